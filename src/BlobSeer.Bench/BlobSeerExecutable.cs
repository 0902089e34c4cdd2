using System.Diagnostics;
using BlobSeer.Bench.Testbed;

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

    /// <summary>Environment changes for the child: a null value removes the variable.</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    /// <summary>
    /// The start info of <c>blobseer ARGUMENTS…</c>, inside network namespace <paramref name="netns"/>
    /// (<c>/run/netns/NETNS</c>) when given; nothing redirected yet.
    /// </summary>
    /// <remarks>
    /// <c>nsenter --net</c> rather than <c>ip netns exec</c>: both exec, so the child's pid is
    /// blobseer's, but <c>ip netns exec</c> also gives the process a private copy of every mount of
    /// the moment, in which another process's FUSE mount outlives its unmount (its daemon then waits
    /// for the copy to go), and in which the FUSE mounts the process makes are invisible to the machine.
    /// </remarks>
    public ProcessStartInfo StartInfo(IEnumerable<string> arguments, string? netns = null)
    {
        var info = new ProcessStartInfo(netns is null ? FileName : SystemCommands.Nsenter) { UseShellExecute = false };
        IEnumerable<string> all = netns is null ? Arguments(arguments) : [$"--net=/run/netns/{netns}", "--", FileName, .. Arguments(arguments)];
        foreach (var a in all)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (name, value) in Environment)
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        return info;
    }

    /// <summary>The full argument list of <c>blobseer ARGUMENTS…</c>.</summary>
    public IReadOnlyList<string> Arguments(IEnumerable<string> arguments) => [.. Prefix, .. arguments];

    /// <inheritdoc/>
    public override string ToString() => string.Join(' ', [FileName, .. Prefix]);
}
