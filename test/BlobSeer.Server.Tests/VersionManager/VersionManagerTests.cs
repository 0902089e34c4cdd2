using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Server.VersionManager;

namespace BlobSeer.Server.Tests.VersionManager;

public sealed class VersionManagerTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-vm-" + Guid.NewGuid().ToString("N"));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private VersionManagerService Open() => new(new VersionManagerOptions { Directory = _directory }, () => new ClusterMap());

    [Fact]
    public void A_second_version_manager_on_the_same_directory_is_refused()
    {
        using var first = Open();
        var ex = Should.Throw<BlobSeerException>(Open);
        ex.Code.ShouldBe(ErrorCode.FailedPrecondition);
        ex.Message.ShouldContain("in use");
    }

    [Fact]
    public async Task Versions_publish_in_order_and_no_op_completions_survive_a_restart()
    {
        ulong id;
        using (var vm = Open())
        {
            id = (await vm.CreateBlobAsync(new CreateBlobRequest { Name = "b" }, Ct)).Id;
            var v1 = await vm.AssignVersionAsync(new AssignVersionRequest { Blob = id, AppendLength = 10 }, Ct);
            var v2 = await vm.AssignVersionAsync(new AssignVersionRequest { Blob = id, AppendLength = 10 }, Ct);
            v2.InFlight.Single().Version.ShouldBe(v1.Version);
            v2.Ranges.Single().Offset.ShouldBe(10UL);
            await vm.CompleteVersionAsync(new VersionRequest { Blob = id, Version = 2 }, Ct);
            (await vm.GetBlobAsync(new BlobRef { Id = id }, Ct)).LatestVersion.ShouldBe(0UL);
            await vm.CompleteVersionAsync(new VersionRequest { Blob = id, Version = 1, Noop = true }, Ct);
            (await vm.GetBlobAsync(new BlobRef { Id = id }, Ct)).LatestVersion.ShouldBe(2UL);
            var waited = await vm.WaitPublishedAsync(new WaitPublishedRequest { Blob = id, Version = 2, TimeoutMs = 1000 }, Ct);
            waited.Size.ShouldBe(20UL);
        }

        using (var vm = Open())
        {
            var versions = await vm.ListVersionsAsync(new BlobRef { Name = "b" }, Ct);
            versions.Versions.Select(v => v.Noop).ShouldBe([false, true, false]);
            (await vm.AssignVersionAsync(new AssignVersionRequest { Blob = id, AppendLength = 1 }, Ct)).Version.ShouldBe(3UL);
        }
    }

    [Fact]
    public async Task Waiting_for_an_unpublished_version_times_out_with_a_clear_error()
    {
        using var vm = Open();
        var id = (await vm.CreateBlobAsync(new CreateBlobRequest(), Ct)).Id;
        await vm.AssignVersionAsync(new AssignVersionRequest { Blob = id, AppendLength = 1 }, Ct);
        var ex = await Should.ThrowAsync<BlobSeerException>(async () =>
            await vm.WaitPublishedAsync(new WaitPublishedRequest { Blob = id, Version = 1, TimeoutMs = 50 }, Ct));
        ex.Code.ShouldBe(ErrorCode.DeadlineExceeded);
    }
}
