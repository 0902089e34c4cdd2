using System.Diagnostics;
using BlobSeer.Mirror.Images;

namespace BlobSeer.Mirror.Tests.Images;

public sealed class ImageImporterTests(ClusterFixture fixture)
{
    private const int Page = 64 << 10;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A 4 MiB sparse raw image: data at 0, a zero-filled page, a hole, data near the end, zeros at the very end.</summary>
    private static byte[] WriteSparseImage(string path)
    {
        var content = new byte[4 << 20];
        var random = new Random(7);
        random.NextBytes(content.AsSpan(0, 3 * Page));
        random.NextBytes(content.AsSpan((3 << 20) + 100, 5000));
        using var file = new FileStream(path, FileMode.Create);
        file.Write(content, 0, 4 * Page); // page 3 is written, but zeros
        file.Seek((3 << 20) + 100, SeekOrigin.Begin);
        file.Write(content, (3 << 20) + 100, 5000);
        file.SetLength(content.Length);
        return content;
    }

    [Fact]
    public async Task A_raw_image_is_stored_as_one_version_with_zero_pages_left_as_holes()
    {
        using var dir = new TempDirectory();
        var path = dir.Sub("disk.raw");
        var content = WriteSparseImage(path);
        var name = "import-" + Guid.NewGuid().ToString("N")[..8];

        long planned = 0;
        var result = await ImageImporter.ImportAsync(fixture.Client, path, new ImportOptions { Name = name, PageSize = Page }, p => planned = p.StoredBytes, cancellationToken: Ct);

        result.SourceFormat.ShouldBe("raw");
        result.Size.ShouldBe(content.Length);
        result.StoredBytes.ShouldBe(planned);
        result.StoredBytes.ShouldBe((3 * Page) + Page + 1); // 3 data pages, the page at 3 MiB (the write spans one page), the last byte
        var blob = await fixture.Client.OpenBlobAsync(name, Ct);
        (await blob.GetLatestVersionAsync(Ct)).ShouldBe(result.Version);
        var back = new byte[content.Length];
        await blob.ReadAsync(result.Version, 0, back, Ct);
        back.ShouldBe(content);
    }

    [Fact]
    public async Task Small_data_extents_sharing_a_page_are_stored_once()
    {
        // The layout mkfs leaves: 4 KiB blocks of data with holes between them, inside one page.
        using var dir = new TempDirectory();
        var path = dir.Sub("fs.raw");
        var content = new byte[1 << 20];
        using (var file = new FileStream(path, FileMode.Create))
        {
            foreach (var block in new[] { 0, 2, 5, 17, 200 })
            {
                content.AsSpan(block * 4096, 4096).Fill((byte)(block + 1));
                file.Seek(block * 4096, SeekOrigin.Begin);
                file.Write(content, block * 4096, 4096);
            }

            file.SetLength(content.Length);
        }

        var name = "import-" + Guid.NewGuid().ToString("N")[..8];
        var result = await ImageImporter.ImportAsync(fixture.Client, path, new ImportOptions { Name = name, PageSize = Page }, cancellationToken: Ct);
        result.StoredBytes.ShouldBe((3 * Page) + 1); // pages 0, 1 and 12, and the last byte
        var back = new byte[content.Length];
        await (await fixture.Client.OpenBlobAsync(name, Ct)).ReadAsync(result.Version, 0, back, Ct);
        back.ShouldBe(content);
    }

    [Fact]
    public async Task A_qcow2_image_is_converted_with_qemu_img_and_reads_back_identical()
    {
        using var dir = new TempDirectory();
        var raw = dir.Sub("disk.raw");
        var content = WriteSparseImage(raw);
        var qcow2 = dir.Sub("disk.qcow2");
        Run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2);
        ImageImporter.Detect(qcow2).ShouldBe("qcow2");

        var name = "import-" + Guid.NewGuid().ToString("N")[..8];
        var result = await ImageImporter.ImportAsync(fixture.Client, qcow2, new ImportOptions { Name = name, PageSize = Page, TempDirectory = dir.Path }, cancellationToken: Ct);

        result.SourceFormat.ShouldBe("qcow2");
        var back = new byte[result.Size];
        await (await fixture.Client.OpenBlobAsync(name, Ct)).ReadAsync(result.Version, 0, back, Ct);
        back.ShouldBe(content);
        Directory.GetFiles(dir.Path).Length.ShouldBe(2); // the temporary raw conversion is gone
    }

    [Fact]
    public async Task An_import_into_the_empty_blob_a_failed_import_left_succeeds_but_never_over_data()
    {
        using var dir = new TempDirectory();
        var path = dir.Sub("disk.raw");
        var content = WriteSparseImage(path);
        var name = "import-" + Guid.NewGuid().ToString("N")[..8];
        await fixture.Client.CreateBlobAsync(name, Page, cancellationToken: Ct); // what an interrupted import leaves

        var result = await ImageImporter.ImportAsync(fixture.Client, path, new ImportOptions { Name = name, PageSize = Page }, cancellationToken: Ct);
        result.Version.ShouldBe(1UL);

        var again = await Should.ThrowAsync<Core.BlobSeerException>(() => ImageImporter.ImportAsync(fixture.Client, path, new ImportOptions { Name = name, PageSize = Page }, cancellationToken: Ct));
        again.Code.ShouldBe(Core.ErrorCode.AlreadyExists);
        var back = new byte[content.Length];
        await (await fixture.Client.OpenBlobAsync(name, Ct)).ReadAsync(1, 0, back, Ct);
        back.ShouldBe(content);
    }

    [Fact]
    public async Task Importing_a_missing_empty_or_corrupt_file_fails_clearly()
    {
        using var dir = new TempDirectory();
        (await Should.ThrowAsync<Core.BlobSeerException>(() => ImageImporter.ImportAsync(fixture.Client, dir.Sub("none.raw"), new ImportOptions { Name = "x-none" }, cancellationToken: Ct)))
            .Code.ShouldBe(Core.ErrorCode.NotFound);
        await File.WriteAllBytesAsync(dir.Sub("empty.raw"), [], Ct);
        (await Should.ThrowAsync<Core.BlobSeerException>(() => ImageImporter.ImportAsync(fixture.Client, dir.Sub("empty.raw"), new ImportOptions { Name = "x-empty" }, cancellationToken: Ct)))
            .Message.ShouldContain("empty");
        await File.WriteAllBytesAsync(dir.Sub("bad.qcow2"), [(byte)'Q', (byte)'F', (byte)'I', 0xFB, .. new byte[100]], Ct);
        (await Should.ThrowAsync<Core.BlobSeerException>(() => ImageImporter.ImportAsync(fixture.Client, dir.Sub("bad.qcow2"), new ImportOptions { Name = "x-bad" }, cancellationToken: Ct)))
            .Message.ShouldContain("qemu-img");
    }

    internal static void Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        process.ExitCode.ShouldBe(0, $"{program} {string.Join(' ', args)}: {output}");
    }
}
