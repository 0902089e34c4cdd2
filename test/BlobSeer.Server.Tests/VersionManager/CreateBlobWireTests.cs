using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.ProviderManager;
using BlobSeer.Server.Rpc;
using BlobSeer.Server.VersionManager;

namespace BlobSeer.Server.Tests.VersionManager;

/// <summary>
/// CreateBlob and Clone with bad values, through a real gRPC client to a real version manager
/// that asks a real provider manager how many data providers are registered. proto3's defaults
/// (0, "") mean "not given"; everything else out of range is InvalidArgument naming the field.
/// </summary>
public sealed class CreateBlobWireTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "blobseer-create-" + Guid.NewGuid().ToString("N"));
    private ProviderManagerService _providers = null!;
    private RpcHost _providerHost = null!;
    private VersionManagerService _versions = null!;
    private RpcHost _versionHost = null!;
    private NodeChannel _channel = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private VersionManagerClient Client => new(_channel);

    public async ValueTask InitializeAsync()
    {
        _providers = new ProviderManagerService(new ProviderManagerOptions { Directory = Path.Combine(_directory, "pm"), RepairAfter = TimeSpan.Zero });
        _providerHost = await RpcHost.StartAsync(new RpcHostOptions(), s => s.Map(_providers), cancellationToken: Ct);
        await RegisterProvidersAsync(2);
        _versions = new VersionManagerService(new VersionManagerOptions { Directory = Path.Combine(_directory, "vm") },
            () => new ClusterMap { ProviderManager = _providerHost.Endpoint });
        _versionHost = await RpcHost.StartAsync(new RpcHostOptions(), s => s.Map(_versions), cancellationToken: Ct);
        _channel = new NodeChannel(_versionHost.Endpoint);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _versionHost.DisposeAsync();
        _versions.Dispose();
        await _providerHost.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task RegisterProvidersAsync(int count)
    {
        var first = (await _providers.ListProvidersAsync(new Empty(), Ct)).Providers.Count;
        for (var i = first; i < first + count; i++)
        {
            // Addresses nobody listens on: only the registration is counted.
            await _providers.RegisterAsync(new RegisterProviderRequest { Endpoint = $"127.0.0.1:{9 + i}", CapacityBytes = 1 << 30, FreeBytes = 1 << 30 }, Ct);
        }
    }

    private async Task<string> ShouldBeRefusedAsync(CreateBlobRequest request, string field)
    {
        var error = await Should.ThrowAsync<BlobSeerException>(() => Client.CreateBlobAsync(request, Ct).AsTask());
        error.Code.ShouldBe(ErrorCode.InvalidArgument, error.Message);
        error.Message.ShouldContain(field, Case.Sensitive, error.Message);
        return error.Message;
    }

    public static TheoryData<string, uint, uint, string> BadRequests => new()
    {
        { "", 3000, 0, "page_size 3000" },
        { "", 2048, 0, "page_size 2048" },
        { "", 16 << 20, 0, "page_size 16777216" },
        { "", uint.MaxValue, 0, "page_size 4294967295" },
        { "", 0, 17, "replication 17" },
        { "", 0, uint.MaxValue, "replication 4294967295" },
        { " ", 0, 0, "blob name" },
        { "\t\n", 0, 0, "blob name" },
        { new string('a', 201), 0, 0, "too long" },
        { "bell\u0007name", 0, 0, "blob name" },
        { "esc\u001b[2Jname", 0, 0, "blob name" },
        { "with space", 0, 0, "blob name" },
        { "12345", 0, 0, "blob name" },
        { ".hidden", 0, 0, "blob name" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Out_of_range_fields_are_invalid_argument_naming_the_field(string name, uint pageSize, uint replication, string field)
    {
        var message = await ShouldBeRefusedAsync(new CreateBlobRequest { Name = name, PageSize = pageSize, Replication = replication }, field);
        message.ShouldNotContain("\u0007");
        message.ShouldNotContain("\u001b");
        message.Length.ShouldBeLessThan(400);
        (await _versions.ListBlobsAsync(new Empty(), Ct)).Blobs.ShouldBeEmpty();
    }

    [Fact]
    public async Task Zero_and_empty_take_the_cluster_defaults()
    {
        var blob = await Client.CreateBlobAsync(new CreateBlobRequest(), Ct);

        blob.PageSize.ShouldBe((uint)PageGeometry.DefaultPageSize);
        blob.Replication.ShouldBe(1u);
        blob.Name.ShouldBeEmpty();
    }

    [Fact]
    public async Task Replication_above_the_registered_providers_is_refused_naming_both_numbers_until_more_register()
    {
        (await Client.CreateBlobAsync(new CreateBlobRequest { Name = "two", Replication = 2 }, Ct)).Replication.ShouldBe(2u);

        var message = await ShouldBeRefusedAsync(new CreateBlobRequest { Name = "three", Replication = 3 }, "replication 3");
        message.ShouldContain("2 data provider(s)");

        // A refusal is decided on a count just asked: the third provider is seen at once.
        await RegisterProvidersAsync(1);
        (await Client.CreateBlobAsync(new CreateBlobRequest { Name = "three", Replication = 3 }, Ct)).Replication.ShouldBe(3u);
    }

    [Fact]
    public async Task A_clone_with_a_bad_name_is_refused_and_one_without_a_name_is_unnamed()
    {
        var source = await Client.CreateBlobAsync(new CreateBlobRequest { Name = "source" }, Ct);

        foreach (var name in new[] { " ", "a\u0000b", new string('x', 300) })
        {
            var error = await Should.ThrowAsync<BlobSeerException>(() => Client.CloneAsync(new CloneRequest { Blob = source.Id, Latest = true, Name = name }, Ct).AsTask());
            error.Code.ShouldBe(ErrorCode.InvalidArgument);
            error.Message.ShouldContain("blob name");
            error.Message.ShouldNotContain("\u0000");
        }

        (await Client.CloneAsync(new CloneRequest { Blob = source.Id, Latest = true }, Ct)).Name.ShouldBeEmpty();
    }
}
