using BlobSeer.Core;
using BlobSeer.Protocol;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Hosting;
using RetentionPolicy = BlobSeer.Core.Versions.RetentionPolicy;

namespace BlobSeer.Client.Tests;

/// <summary>
/// Deleting blobs and versions, labels, retention and the garbage collector's roots, on a cluster of
/// its own (a short retention interval; restarted on its directory). In-flight writers are played
/// with the raw protocol: they take a version and do not complete it.
/// </summary>
public sealed class LifecycleTests : IAsyncLifetime
{
    private const int PageSize = 4096;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-lifecycle-" + Guid.NewGuid().ToString("N"));
    private EmbeddedCluster _cluster = null!;
    private BlobSeerClient _client = null!;
    private NodeChannel _channel = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => new(StartAsync(null));

    private async Task StartAsync(RetentionPolicy? defaultRetention)
    {
        _cluster = await EmbeddedCluster.StartAsync(new EmbeddedClusterOptions
        {
            DataDirectory = _directory,
            Port = 0,
            MetadataProviders = 1,
            DataProviders = 1,
            RetentionInterval = TimeSpan.FromMilliseconds(200),
            DefaultRetention = defaultRetention,
        }, ct: Ct);
        _client = await BlobSeerClient.ConnectAsync(_cluster.Endpoint, null, Ct);
        _channel = new NodeChannel(_cluster.Endpoint);
    }

    private async Task StopAsync()
    {
        _channel.Dispose();
        _client.Dispose();
        await _cluster.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private VersionManagerClient VersionManager => new(_channel);

    private async Task<Blob> BlobWithVersionsAsync(string? name, int versions, RetentionPolicy? retention = null)
    {
        var blob = await _client.CreateBlobAsync(name, PageSize, null, retention, Ct);
        for (var i = 0; i < versions; i++)
        {
            await blob.WriteAsync(i * PageSize, Bytes(PageSize, i), Ct);
        }

        return blob;
    }

    private static byte[] Bytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static async Task<BlobSeerException> Fails(Func<Task> call, ErrorCode code, string text)
    {
        var e = await Should.ThrowAsync<BlobSeerException>(call);
        e.Code.ShouldBe(code, e.Message);
        e.Message.ShouldContain(text);
        return e;
    }

    private static async Task<List<ulong>> VersionsAsync(Blob blob)
    {
        var list = new List<ulong>();
        await foreach (var v in blob.ListVersionsAsync(Ct))
        {
            list.Add(v.Version);
        }

        return list;
    }

    private async Task<GcBlobRoots?> GcRootsOfAsync(ulong blob)
    {
        var all = new List<GcBlobRoots>();
        ulong after = 0;
        do
        {
            var page = await VersionManager.GetGcRootsAsync(new GcRootsRequest { AfterBlob = after, Limit = 2 }, Ct);
            all.AddRange(page.Blobs);
            after = page.NextBlob;
        }
        while (after != 0);
        all.Select(b => b.Blob).ShouldBeInOrder(SortDirection.Ascending);
        return all.SingleOrDefault(b => b.Blob == blob);
    }

    [Fact]
    public async Task A_deleted_blob_is_gone_its_name_is_free_and_its_clones_keep_working()
    {
        var blob = await BlobWithVersionsAsync("lifecycle/reused", 2);
        var clone = await blob.CloneAsync(1, "lifecycle/reused-clone", Ct);
        await blob.DeleteAsync(Ct);

        await Fails(() => _client.OpenBlobAsync("lifecycle/reused", Ct), ErrorCode.NotFound, "no blob is named 'lifecycle/reused'");
        await Fails(() => _client.OpenBlobAsync(blob.Id, Ct), ErrorCode.NotFound, $"blob {blob.Id} (lifecycle/reused) was deleted");
        await Fails(() => blob.GetVersionAsync(1, Ct), ErrorCode.NotFound, "was deleted");
        await Fails(() => blob.DeleteAsync(Ct), ErrorCode.NotFound, "was deleted");
        await Fails(() => blob.AppendAsync(Bytes(10, 1), Ct), ErrorCode.NotFound, "was deleted");
        (await _client.ListBlobsAsync(Ct).ToListAsync(Ct)).ShouldNotContain(b => b.Id == blob.Id);

        var again = await _client.CreateBlobAsync("lifecycle/reused", PageSize, cancellationToken: Ct);
        again.Id.ShouldBeGreaterThan(clone.Id, "ids are never reused");
        var read = new byte[PageSize];
        await clone.ReadAsync(0, 0, read, Ct);
        read.ShouldBe(Bytes(PageSize, 0));
        (await GcRootsOfAsync(blob.Id)).ShouldBeNull("a deleted blob with nothing in flight is not listed");
    }

    [Fact]
    public async Task A_writer_in_flight_on_a_deleted_blob_is_refused_and_the_blob_listed_for_the_collector_until_then()
    {
        var blob = await BlobWithVersionsAsync(null, 1);
        var assigned = await VersionManager.AssignVersionAsync(Assign(blob.Id, 0, PageSize), Ct);
        await blob.DeleteAsync(Ct);

        var roots = (await GcRootsOfAsync(blob.Id)).ShouldNotBeNull();
        roots.Deleted.ShouldBeTrue();
        roots.Roots.Select(r => r.ToCore()).ShouldBe([new Core.Trees.NodeKey(blob.Id, 1, 0, 1)], "the tree its writer borrows from");

        await Fails(() => VersionManager.RenewLeaseAsync(new VersionRequest { Blob = blob.Id, Version = assigned.Version }, Ct).AsTask(),
            ErrorCode.NotFound, $"blob {blob.Id} was deleted while version {assigned.Version} was in flight");
        await Fails(() => VersionManager.CompleteVersionAsync(new VersionRequest { Blob = blob.Id, Version = assigned.Version }, Ct).AsTask(),
            ErrorCode.NotFound, $"blob {blob.Id} was deleted");
        (await GcRootsOfAsync(blob.Id)).ShouldBeNull("its last writer is done");
    }

    [Fact]
    public async Task Deleted_versions_read_as_not_found_and_the_latest_goes_only_with_the_blob()
    {
        var blob = await BlobWithVersionsAsync("lifecycle/versions", 6);
        var v2 = new byte[2 * PageSize];
        await blob.ReadAsync(2, 0, v2, Ct);
        await blob.DeleteVersionAsync(2, Ct);

        var message = $"blob {blob.Id} (lifecycle/versions) version 2 was deleted";
        await Fails(() => blob.ReadAsync(2, 0, v2, Ct), ErrorCode.NotFound, message);
        await Fails(() => blob.GetVersionAsync(2, Ct), ErrorCode.NotFound, message);
        await Fails(() => blob.WaitForVersionAsync(2, TimeSpan.FromSeconds(1), Ct), ErrorCode.NotFound, message);
        await Fails(() => blob.CloneAsync(2, cancellationToken: Ct), ErrorCode.NotFound, message);
        await Fails(() => blob.DeleteVersionAsync(2, Ct), ErrorCode.NotFound, message);
        (await VersionsAsync(blob)).ShouldBe([0UL, 1, 3, 4, 5, 6]);

        await Fails(() => blob.DeleteVersionAsync(6, Ct), ErrorCode.FailedPrecondition, "version 6 is the latest published version: it can only be deleted with the blob");
        await Fails(() => blob.DeleteVersionsBeforeAsync(7, Ct), ErrorCode.NotFound, "has no version 7");
        await Fails(() => blob.DeleteVersionAsync(99, Ct), ErrorCode.NotFound, $"blob {blob.Id} (lifecycle/versions) has no version 99");
        var inFlight = await VersionManager.AssignVersionAsync(Assign(blob.Id, 0, 10), Ct);
        await Fails(() => blob.DeleteVersionAsync(inFlight.Version, Ct), ErrorCode.FailedPrecondition, $"version {inFlight.Version} is not published yet");
        await Fails(() => blob.DeleteVersionsBeforeAsync(inFlight.Version, Ct), ErrorCode.FailedPrecondition, "would delete the latest published version 6");
        await VersionManager.CompleteVersionAsync(new VersionRequest { Blob = blob.Id, Version = inFlight.Version, Noop = true }, Ct);

        await blob.DeleteVersionsBeforeAsync(5, Ct);
        await blob.DeleteVersionsBeforeAsync(4, Ct);
        (await VersionsAsync(blob)).ShouldBe([5UL, 6, 7]);
        var v5 = new byte[5 * PageSize];
        await blob.ReadAsync(5, 0, v5, Ct);
        v5.AsSpan(4 * PageSize).SequenceEqual(Bytes(PageSize, 4)).ShouldBeTrue();
        await Fails(() => VersionManager.DeleteVersionsAsync(new DeleteVersionsRequest { Blob = blob.Id }, Ct).AsTask(), ErrorCode.InvalidArgument, "not neither");
    }

    [Fact]
    public async Task A_label_names_one_version_and_moves_when_set_on_another()
    {
        var blob = await BlobWithVersionsAsync(null, 3);
        await blob.TagAsync(1, "snapshot:nightly", Ct);
        await blob.TagAsync(1, "release-1", Ct);
        (await blob.GetVersionAsync(1, Ct)).Labels.ShouldBe(["release-1", "snapshot:nightly"]);

        await blob.TagAsync(2, "snapshot:nightly", Ct);
        (await blob.GetVersionAsync(1, Ct)).Labels.ShouldBe(["release-1"]);
        var listed = await blob.ListVersionsAsync(Ct).ToListAsync(Ct);
        listed.Single(v => v.Version == 2).Labels.ShouldBe(["snapshot:nightly"]);

        await blob.UntagAsync("release-1", Ct);
        (await blob.GetVersionAsync(1, Ct)).Labels.ShouldBeEmpty();
        await Fails(() => blob.UntagAsync("release-1", Ct), ErrorCode.NotFound, "has no label 'release-1'");
        await blob.DeleteVersionAsync(2, Ct);
        await Fails(() => blob.UntagAsync("snapshot:nightly", Ct), ErrorCode.NotFound, "has no label"); // deleting a version drops its labels
        await Fails(() => blob.TagAsync(2, "x", Ct), ErrorCode.NotFound, "version 2 was deleted");
        await Fails(() => blob.TagAsync(9, "x", Ct), ErrorCode.NotFound, "has no version 9");

        foreach (var bad in new[] { "", " lead", "trail ", "tab\there", new string('x', 129) })
        {
            await Fails(() => VersionManager.TagAsync(new TagRequest { Blob = blob.Id, Version = 1, Label = bad }, Ct).AsTask(), ErrorCode.InvalidArgument, "label");
        }

        await blob.TagAsync(1, new string('y', 128), Ct);
    }

    [Fact]
    public async Task Retention_by_count_deletes_at_every_publication_and_keeps_tagged_versions()
    {
        var blob = await BlobWithVersionsAsync(null, 2, new RetentionPolicy(KeepLast: 2, KeepTagged: true));
        blob.Summary.Retention.ShouldBe(new RetentionPolicy(2, null, true));
        (await VersionsAsync(blob)).ShouldBe([1UL, 2]);
        await blob.TagAsync(1, "keep-me", Ct);
        await blob.WriteAsync(0, Bytes(10, 9), Ct);
        await blob.WriteAsync(0, Bytes(10, 10), Ct);
        (await VersionsAsync(blob)).ShouldBe([1UL, 3, 4]);

        (await blob.SetRetentionAsync(new RetentionPolicy(KeepLast: 1), Ct)).Retention.ShouldBe(new RetentionPolicy(1));
        (await VersionsAsync(blob)).ShouldBe([4UL], "setting a policy applies it at once");
        (await blob.SetRetentionAsync(null, Ct)).Retention.ShouldBeNull();
        await blob.WriteAsync(0, Bytes(10, 11), Ct);
        (await VersionsAsync(blob)).ShouldBe([4UL, 5]);
    }

    [Fact]
    public async Task Retention_by_age_is_applied_by_the_periodic_pass()
    {
        var blob = await BlobWithVersionsAsync(null, 3);
        await blob.SetRetentionAsync(new RetentionPolicy(KeepYoungerThan: TimeSpan.FromSeconds(1)), Ct);
        (await VersionsAsync(blob)).ShouldBe([0UL, 1, 2, 3], "everything is younger than a second");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while ((await VersionsAsync(blob)).Count > 1 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100, Ct);
        }

        (await VersionsAsync(blob)).ShouldBe([3UL], "no publication happened: the pass deleted them");
    }

    [Theory]
    [InlineData(0u, null, false, "keep_last 0")]
    [InlineData(null, -5L, false, "keep_younger_than")]
    [InlineData(null, 0L, true, "keep_younger_than")]
    [InlineData(null, null, false, "at least one rule")]
    public async Task A_policy_that_could_delete_the_latest_is_refused(uint? keepLast, long? ageMs, bool tagged, string text)
    {
        var blob = await BlobWithVersionsAsync(null, 1);
        var policy = new Protocol.Messages.RetentionPolicy { KeepTagged = tagged };
        if (keepLast is { } n)
        {
            policy.KeepLast = n;
        }

        if (ageMs is { } a)
        {
            policy.KeepYoungerThanMs = a;
        }

        await Fails(() => VersionManager.SetRetentionAsync(new SetRetentionRequest { Blob = blob.Id, Policy = policy }, Ct).AsTask(), ErrorCode.InvalidArgument, text);
        await Fails(() => VersionManager.CreateBlobAsync(new CreateBlobRequest { Retention = policy }, Ct).AsTask(), ErrorCode.InvalidArgument, text);
        await Fails(() => _client.CreateBlobAsync(null, null, null, new RetentionPolicy(KeepLast: 0), Ct), ErrorCode.InvalidArgument, "keep_last 0");
    }

    [Fact]
    public async Task Gc_roots_list_retained_versions_and_the_tree_an_in_flight_writer_borrows_from_even_once_deleted()
    {
        var blob = await BlobWithVersionsAsync(null, 3);
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        // Two writers against version 3: the first completes, publishing 4, the second stays in
        // flight, still borrowing from version 3, which is no longer the latest and can go.
        var first = await VersionManager.AssignVersionAsync(Assign(blob.Id, 0, 10), Ct);
        var second = await VersionManager.AssignVersionAsync(Assign(blob.Id, 100, 10), Ct);
        second.PublishedVersion.ShouldBe(3UL);
        await VersionManager.CompleteVersionAsync(new VersionRequest { Blob = blob.Id, Version = first.Version, Noop = true }, Ct);
        (await blob.GetLatestVersionAsync(Ct)).ShouldBe(4UL);
        await blob.DeleteVersionAsync(1, Ct);
        await blob.DeleteVersionAsync(3, Ct);

        var roots = (await GcRootsOfAsync(blob.Id)).ShouldNotBeNull();
        roots.Deleted.ShouldBeFalse();
        roots.KeepVersionsAfter.ShouldBe(4UL);
        // Version 0 is empty (no root); 1 is deleted; 3 is deleted but borrowed from by version 5.
        roots.Roots.Select(r => r.ToCore().Version).ShouldBe([2UL, 4, 3]);
        roots.Roots.Count.ShouldBe(roots.Roots.Distinct().Count());
        var page = await VersionManager.GetGcRootsAsync(new GcRootsRequest(), Ct);
        page.OldestInFlightUnixMs.ShouldBeInRange(before - 1, page.SnapshotUnixMs);

        await VersionManager.CompleteVersionAsync(new VersionRequest { Blob = blob.Id, Version = second.Version, Noop = true }, Ct);
        roots = (await GcRootsOfAsync(blob.Id)).ShouldNotBeNull();
        roots.Roots.Select(r => r.ToCore().Version).ShouldBe([2UL, 4, 5], "once its writer is done, nothing borrows from version 3");
        roots.KeepVersionsAfter.ShouldBe(5UL);
    }

    [Fact]
    public async Task Deletions_labels_policies_and_freed_names_survive_a_restart_and_the_default_applies_to_new_blobs()
    {
        var gone = await BlobWithVersionsAsync("lifecycle/gone", 1);
        var kept = await BlobWithVersionsAsync("lifecycle/kept", 4, new RetentionPolicy(KeepLast: 3, KeepYoungerThan: TimeSpan.FromDays(7)));
        await kept.DeleteVersionAsync(1, Ct);
        await kept.TagAsync(2, "snapshot:a", Ct);
        await kept.TagAsync(3, "snapshot:a", Ct);
        await kept.TagAsync(3, "b", Ct);
        await gone.DeleteAsync(Ct);
        var reuse = await _client.CreateBlobAsync("lifecycle/gone", PageSize, cancellationToken: Ct);
        var plain = await BlobWithVersionsAsync("lifecycle/plain", 2);
        await plain.DeleteVersionsBeforeAsync(2, Ct);

        await StopAsync();
        await StartAsync(new RetentionPolicy(KeepLast: 2));

        var k = await _client.OpenBlobAsync("lifecycle/kept", Ct);
        k.Summary.Retention.ShouldBe(new RetentionPolicy(3, TimeSpan.FromDays(7)));
        (await VersionsAsync(k)).ShouldBe([0UL, 2, 3, 4]);
        (await k.GetVersionAsync(3, Ct)).Labels.ShouldBe(["b", "snapshot:a"]);
        (await k.GetVersionAsync(2, Ct)).Labels.ShouldBeEmpty();
        await Fails(() => k.GetVersionAsync(1, Ct), ErrorCode.NotFound, "version 1 was deleted");
        (await _client.OpenBlobAsync("lifecycle/gone", Ct)).Id.ShouldBe(reuse.Id);
        await Fails(() => _client.OpenBlobAsync(gone.Id, Ct), ErrorCode.NotFound, "was deleted");
        var p = await _client.OpenBlobAsync("lifecycle/plain", Ct);
        p.Summary.Retention.ShouldBeNull("the default is copied into new blobs only");
        (await VersionsAsync(p)).ShouldBe([2UL]);

        var fresh = await BlobWithVersionsAsync(null, 4);
        fresh.Summary.Retention.ShouldBe(new RetentionPolicy(KeepLast: 2));
        (await VersionsAsync(fresh)).ShouldBe([3UL, 4]);
    }

    [Fact]
    public void A_cluster_file_names_the_default_retention()
    {
        var file = Path.Combine(Path.GetTempPath(), "blobseer-retention-" + Guid.NewGuid().ToString("N") + ".json");
        try
        {
            File.WriteAllText(file, """{ "retention": { "keepLast": 10, "keepYoungerThan": "7d", "keepTagged": true } }""");
            ClusterConfig.Load(file).Retention!.ToPolicy().ShouldBe(new RetentionPolicy(10, TimeSpan.FromDays(7), true));
            File.WriteAllText(file, """{ "retention": { "keepLast": 0 } }""");
            Should.Throw<BlobSeerException>(() => ClusterConfig.Load(file)).Message.ShouldContain("retention: retention keep_last 0 is invalid");
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static AssignVersionRequest Assign(ulong blob, long offset, long length) =>
        new() { Blob = blob, Ranges = { new Protocol.Messages.ByteRange { Offset = (ulong)offset, Length = (ulong)length } } };
}
