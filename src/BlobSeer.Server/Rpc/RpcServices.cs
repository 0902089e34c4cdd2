using BlobSeer.Protocol.Rpc;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace BlobSeer.Server.Rpc;

/// <summary>
/// The role services an <see cref="RpcHost"/> serves: each <c>Map</c> binds one role interface
/// to its Grpc.AspNetCore adapter and names the service for the health service. Filled before the
/// host starts.
/// </summary>
public sealed class RpcServices
{
    private readonly List<Action<IServiceCollection>> _registrations = [];
    private readonly List<Action<IEndpointRouteBuilder>> _endpoints = [];
    private readonly List<string> _names = [];

    /// <summary>The gRPC service names mapped so far, e.g. <c>blobseer.v1.VersionManager</c>.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>Serves the version manager service.</summary>
    /// <param name="service">The implementation calls are dispatched to.</param>
    /// <returns>This collection, for chaining.</returns>
    public RpcServices Map(IVersionManagerService service) =>
        Add(ServicePaths.VersionManager.Service, new VersionManagerGrpcService(service ?? throw new ArgumentNullException(nameof(service))));

    /// <summary>Serves the provider manager service.</summary>
    /// <param name="service">The implementation calls are dispatched to.</param>
    /// <returns>This collection, for chaining.</returns>
    public RpcServices Map(IProviderManagerService service) =>
        Add(ServicePaths.ProviderManager.Service, new ProviderManagerGrpcService(service ?? throw new ArgumentNullException(nameof(service))));

    /// <summary>Serves the metadata provider service.</summary>
    /// <param name="service">The implementation calls are dispatched to.</param>
    /// <returns>This collection, for chaining.</returns>
    public RpcServices Map(IMetadataProviderService service) =>
        Add(ServicePaths.MetadataProvider.Service, new MetadataProviderGrpcService(service ?? throw new ArgumentNullException(nameof(service))));

    /// <summary>Serves the data provider service (the gRPC fallback of the page transport).</summary>
    /// <param name="service">The implementation calls are dispatched to.</param>
    /// <returns>This collection, for chaining.</returns>
    public RpcServices Map(IDataProviderService service) =>
        Add(ServicePaths.DataProvider.Service, new DataProviderGrpcService(service ?? throw new ArgumentNullException(nameof(service))));

    internal void Register(IServiceCollection services)
    {
        foreach (var register in _registrations)
        {
            register(services);
        }
    }

    internal void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        foreach (var map in _endpoints)
        {
            map(endpoints);
        }
    }

    // The adapter is a singleton: Grpc.AspNetCore resolves it from the container instead of creating one per call.
    private RpcServices Add<TAdapter>(string name, TAdapter adapter)
        where TAdapter : class
    {
        if (_names.Contains(name))
        {
            throw new ArgumentException($"service {name} is already mapped", nameof(adapter));
        }

        _names.Add(name);
        _registrations.Add(services => services.AddSingleton(adapter));
        _endpoints.Add(endpoints => endpoints.MapGrpcService<TAdapter>());
        return this;
    }
}
