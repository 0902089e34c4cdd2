using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Rpc;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;

namespace BlobSeer.Server.Tests.Rpc;

/// <summary>The standard services every role serves beside its own: grpc.health.v1 and server reflection, open without the secret.</summary>
public sealed partial class RpcTests
{
    [Fact]
    public async Task Health_answers_serving_for_the_role_and_the_server_and_not_found_for_other_services_without_the_secret()
    {
        await using RpcHost server = await StartAsync(
            services => services.Map(new FakeVersionManager()).Map(new InMemoryDataProvider()), new RpcHostOptions { Secret = Secret });
        using var channel = new NodeChannel(server.Endpoint);
        var health = new Health.HealthClient(channel.Invoker);

        foreach (string service in new[] { "", ServicePaths.VersionManager.Service, ServicePaths.DataProvider.Service })
        {
            HealthCheckResponse response = await health.CheckAsync(new HealthCheckRequest { Service = service }, cancellationToken: Ct);
            response.Status.ShouldBe(HealthCheckResponse.Types.ServingStatus.Serving, $"service '{service}'");
        }

        var other = await Should.ThrowAsync<RpcException>(
            () => health.CheckAsync(new HealthCheckRequest { Service = ServicePaths.MetadataProvider.Service }, cancellationToken: Ct).ResponseAsync);
        other.StatusCode.ShouldBe(StatusCode.NotFound);

        // The role's own calls still need the secret on the same channel.
        var refused = await Should.ThrowAsync<BlobSeerException>(() => new VersionManagerClient(channel).ListBlobsAsync(new Empty(), Ct).AsTask());
        refused.Code.ShouldBe(ErrorCode.Unauthenticated);
    }

    [Fact]
    public async Task Reflection_lists_the_role_services_without_the_secret()
    {
        await using RpcHost server = await StartAsync(services => services.Map(new FakeVersionManager()), new RpcHostOptions { Secret = Secret });
        using var channel = new NodeChannel(server.Endpoint);
        var reflection = new ServerReflection.ServerReflectionClient(channel.Invoker);

        using var call = reflection.ServerReflectionInfo(cancellationToken: Ct);
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }, Ct);
        await call.RequestStream.CompleteAsync();
        (await call.ResponseStream.MoveNext(Ct)).ShouldBeTrue();

        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        names.ShouldContain(ServicePaths.VersionManager.Service);
        names.ShouldContain("grpc.health.v1.Health");
        names.ShouldNotContain(ServicePaths.DataProvider.Service);
        server.Services.ShouldBe([ServicePaths.VersionManager.Service]);

        // The v1 protocol too, which newer tools ask first.
        using var v1 = new Grpc.Reflection.V1.ServerReflection.ServerReflectionClient(channel.Invoker).ServerReflectionInfo(cancellationToken: Ct);
        await v1.RequestStream.WriteAsync(new Grpc.Reflection.V1.ServerReflectionRequest { ListServices = "" }, Ct);
        await v1.RequestStream.CompleteAsync();
        (await v1.ResponseStream.MoveNext(Ct)).ShouldBeTrue();
        v1.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ShouldContain(ServicePaths.VersionManager.Service);
    }
}
