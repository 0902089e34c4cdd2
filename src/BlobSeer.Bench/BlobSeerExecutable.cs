namespace BlobSeer.Bench;

/// <summary>
/// How to start the <c>blobseer</c> executable as a child process: the program, and the arguments
/// that come before the verb — the apphost itself with none, or the <c>dotnet</c> host with the
/// path of <c>blobseer.dll</c>. The lab never guesses it: the CLI passes its own, the tests the
/// build beside them.
/// </summary>
/// <param name="FileName">The program to start.</param>
/// <param name="Prefix">Arguments before the verb (e.g. the dll under <c>dotnet</c>).</param>
internal sealed record BlobSeerExecutable(string FileName, IReadOnlyList<string> Prefix)
{
    /// <summary><c>dotnet BLOBSEER.DLL</c>, with the host given or the one on the PATH.</summary>
    public static BlobSeerExecutable ForDll(string dllPath, string dotnetHost = "dotnet") => new(dotnetHost, [dllPath]);

    /// <summary>The full argument list of <c>blobseer ARGUMENTS…</c>.</summary>
    public IReadOnlyList<string> Arguments(IEnumerable<string> arguments) => [.. Prefix, .. arguments];

    /// <inheritdoc/>
    public override string ToString() => string.Join(' ', [FileName, .. Prefix]);
}
