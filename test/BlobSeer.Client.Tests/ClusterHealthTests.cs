namespace BlobSeer.Client.Tests;

/// <summary>The rules that call a cluster healthy or degraded, one at a time, on statuses made by hand.</summary>
public sealed class ClusterHealthTests
{
    private static readonly RepairStatus QuietRepair = new(TimeSpan.FromSeconds(30), 4, 100, 0, 0, DateTimeOffset.UnixEpoch, [], null);

    private const long Reserve = 64L << 20;

    private static DataProviderStatus Provider(uint id, bool alive = true, bool repaired = false, bool draining = false, long free = 1 << 29) =>
        new(id, $"10.0.0.{id}:7104", alive, repaired, 1 << 30, free, 10, DateTimeOffset.UnixEpoch, draining);

    private static ClusterStatus Status(
        IReadOnlyList<MetadataProviderStatus>? metadata = null,
        IReadOnlyList<DataProviderStatus>? data = null,
        RepairStatus? repair = null,
        bool rebalancing = false,
        IReadOnlyList<UnsettledVersionStatus>? unsettled = null) =>
        new("10.0.0.1:7100", "10.0.0.1:7101",
            metadata ?? [new("10.0.0.1:7102", true, null), new("10.0.0.2:7102", true, null)],
            data ?? [Provider(1), Provider(2)],
            repair, 3, rebalancing, 0, Reserve, unsettled);

    [Fact]
    public void A_cluster_with_every_role_up_and_nothing_to_repair_is_healthy()
    {
        var health = ClusterHealth.Of(Status(repair: QuietRepair));
        health.Healthy.ShouldBeTrue(string.Join("; ", health.Problems));
        health.Problems.ShouldBeEmpty();
    }

    [Fact]
    public void A_cluster_without_re_replication_but_all_up_is_healthy() =>
        ClusterHealth.Of(Status(repair: null)).Healthy.ShouldBeTrue();

    [Fact]
    public void An_unreachable_metadata_provider_degrades_the_cluster_and_is_named()
    {
        var health = ClusterHealth.Of(Status(metadata: [new("10.0.0.1:7102", true, null), new("10.0.0.2:7102", false, "connection refused")]));
        health.Healthy.ShouldBeFalse();
        health.Problems.ShouldHaveSingleItem().ShouldContain("10.0.0.2:7102");
        health.Problems[0].ShouldContain("connection refused");
    }

    [Fact]
    public void A_rebalancing_metadata_ring_degrades_the_cluster() =>
        ClusterHealth.Of(Status(rebalancing: true)).Problems.ShouldHaveSingleItem().ShouldContain("rebalancing");

    [Fact]
    public void A_draining_provider_degrades_the_cluster_until_it_is_stopped()
    {
        ClusterHealth.Of(Status(data: [Provider(1), Provider(2, draining: true)])).Problems.ShouldHaveSingleItem().ShouldContain("provider 2 (10.0.0.2:7104) is draining");
        ClusterHealth.Of(Status(data: [Provider(1), Provider(2, draining: true, repaired: true)])).Problems.ShouldHaveSingleItem().ShouldContain("drained and can be stopped");
    }

    [Fact]
    public void A_dead_provider_degrades_the_cluster_even_once_its_pages_were_copied()
    {
        var unrepaired = ClusterHealth.Of(Status(data: [Provider(1), Provider(2, alive: false)], repair: QuietRepair));
        unrepaired.Problems.ShouldHaveSingleItem().ShouldContain("provider 2 (10.0.0.2:7104) is dead; its pages are read from other replicas and copied elsewhere after 30 s");

        var repaired = ClusterHealth.Of(Status(data: [Provider(1), Provider(2, alive: false, repaired: true)], repair: QuietRepair));
        repaired.Healthy.ShouldBeFalse();
        repaired.Problems.ShouldHaveSingleItem().ShouldContain("were copied to other providers");
    }

    [Fact]
    public void A_dead_draining_provider_counts_once_as_dead() =>
        ClusterHealth.Of(Status(data: [Provider(1), Provider(2, alive: false, draining: true)])).Problems.ShouldHaveSingleItem().ShouldContain("is dead");

    [Fact]
    public void Pages_without_a_readable_replica_degrade_the_cluster() =>
        ClusterHealth.Of(Status(repair: QuietRepair with { PagesWithoutReplica = 7 })).Problems.ShouldHaveSingleItem().ShouldStartWith("7 pages have no readable replica");

    [Fact]
    public void A_re_replication_pass_that_stopped_early_degrades_the_cluster() =>
        ClusterHealth.Of(Status(repair: QuietRepair with { LastError = "provider manager restarted" })).Problems.ShouldHaveSingleItem().ShouldContain("provider manager restarted");

    [Fact]
    public void Every_problem_is_reported_not_just_the_first()
    {
        var health = ClusterHealth.Of(Status(
            metadata: [new("10.0.0.1:7102", false, "timeout")],
            data: [Provider(1, alive: false), Provider(2, draining: true)],
            repair: QuietRepair with { PagesWithoutReplica = 1, LastError = "boom" },
            rebalancing: true));
        // The six problems named, and with one provider dead and the other draining nothing can take a page.
        health.Problems.Count.ShouldBe(7);
        health.Healthy.ShouldBeFalse();
    }

    [Fact]
    public void A_metadata_provider_that_refuses_writes_is_a_problem_naming_it_and_why()
    {
        var health = ClusterHealth.Of(Status(metadata: [new("10.0.0.1:7102", true, null, "cannot append: No space left on device"), new("10.0.0.2:7102", true, null)]));
        var problem = health.Problems.ShouldHaveSingleItem();
        problem.ShouldContain("10.0.0.1:7102 refuses writes");
        problem.ShouldContain("No space left on device");
    }

    [Fact]
    public void A_data_provider_at_its_reserve_is_a_problem_but_the_others_still_take_pages()
    {
        var health = ClusterHealth.Of(Status(data: [Provider(1), Provider(2, free: Reserve)]));
        health.Problems.ShouldHaveSingleItem().ShouldContain("provider 2 (10.0.0.2:7104) has reached its reserve");
    }

    [Fact]
    public void No_live_data_provider_with_room_above_the_reserve_is_reported_as_no_writable_capacity()
    {
        var full = ClusterHealth.Of(Status(data: [Provider(1, free: Reserve - 1), Provider(2, free: 0)]));
        full.Problems.Count.ShouldBe(3);
        full.Problems[^1].ShouldStartWith("0 live data provider(s) with free space");

        // A dead provider with room does not take writes either.
        var dead = ClusterHealth.Of(Status(data: [Provider(1, free: 0), Provider(2, alive: false)]));
        dead.Problems.ShouldContain(p => p.StartsWith("0 live data provider(s) with free space", StringComparison.Ordinal));

        ClusterHealth.Of(Status(data: [])).Problems.ShouldHaveSingleItem().ShouldStartWith("0 live data provider(s) with free space");
    }

    [Fact]
    public void A_version_that_cannot_be_settled_is_a_problem_naming_blob_and_version()
    {
        var since = new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
        var health = ClusterHealth.Of(Status(unsettled:
        [
            new UnsettledVersionStatus(7, "images/disk", 12, since, "every metadata provider refuses writes", 40),
            new UnsettledVersionStatus(9, null, 3, since, "boom", 1),
        ]));
        health.Problems.Count.ShouldBe(2);
        health.Problems[0].ShouldContain("blob 7 ('images/disk') version 12");
        health.Problems[0].ShouldContain("every metadata provider refuses writes");
        health.Problems[1].ShouldContain("blob 9 version 3");
    }
}
