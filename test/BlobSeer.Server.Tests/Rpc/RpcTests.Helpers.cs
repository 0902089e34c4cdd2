using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.Rpc;
using BlobSeer.Server.Rpc;
using Google.Protobuf;

namespace BlobSeer.Server.Tests.Rpc;

/// <summary>Hosts, raw HTTP/2 and Python calls, and the hand-written services the RPC tests run against.</summary>
public sealed partial class RpcTests
{
    private static Task<RpcHost> StartAsync(Action<RpcServices> configure, RpcHostOptions? options = null, LogCapture? log = null) =>
        RpcHost.StartAsync(options ?? new RpcHostOptions(), configure, log?.Factory, Ct);

    private static byte[] RandomBytes(int length)
    {
        byte[] bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }

    private sealed record RawResponse(int HttpStatus, string? Status, string? Message);

    private static async Task<RawResponse> RawCallAsync(string endpoint, string path, byte[] body, string contentType = "application/grpc")
    {
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{endpoint}{path}")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        using HttpResponseMessage response = await client.SendAsync(request, Ct);
        await response.Content.ReadAsByteArrayAsync(Ct);
        string? Header(string name) =>
            response.Headers.TryGetValues(name, out var values) || response.TrailingHeaders.TryGetValues(name, out values)
                ? string.Join(",", values)
                : null;
        return new RawResponse((int)response.StatusCode, Header("grpc-status"), Header("grpc-message"));
    }

    private sealed record PythonResult(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}; stdout: {Stdout[..Math.Min(Stdout.Length, 500)]}; stderr: {Stderr}";
    }

    private static async Task<PythonResult> PythonCallAsync(string endpoint, string path, string request, string? secret = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        const string Python = "/usr/bin/python3";
        PythonResult probe = await RunAsync(Python, null, "-c", "import grpc");
        if (probe.ExitCode != 0)
        {
            Assert.Fail($"{Python} cannot import grpc; install the stock client with `apt-get install python3-grpcio`. {probe}");
        }

        return await RunAsync(Python, secret, environment, ScriptPath(), endpoint, path, request);
    }

    private static Task<PythonResult> RunAsync(string program, string? secret, params string[] arguments) => RunAsync(program, secret, null, arguments);

    private static async Task<PythonResult> RunAsync(string program, string? secret, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment.Remove("BLOBSEER_SECRET");
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        if (secret is not null)
        {
            start.Environment["BLOBSEER_SECRET"] = secret;
        }

        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {program}");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(Ct);
        Task<string> stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        return new PythonResult(process.ExitCode, await stdout, await stderr);
    }

    // Next to this source file; a build with mapped source paths falls back to searching upward.
    private static string ScriptPath([CallerFilePath] string source = "")
    {
        const string Relative = "python/grpc_call.py";
        string besideSource = Path.Combine(Path.GetDirectoryName(source) ?? ".", Relative);
        if (File.Exists(besideSource))
        {
            return besideSource;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "test/BlobSeer.Server.Tests/Rpc", Relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"cannot find {Relative} beside {source} or above {AppContext.BaseDirectory}");
    }

    /// <summary>A version manager with canned answers and a call that waits until cancelled.</summary>
    private sealed class FakeVersionManager : IVersionManagerService
    {
        public TaskCompletionSource WaitStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource WaitCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ValueTask<BlobInfo> CreateBlobAsync(CreateBlobRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new BlobInfo
            {
                Id = 42,
                Name = request.Name,
                PageSize = request.PageSize,
                Replication = request.Replication,
                CreatedUnixMs = 1234,
            });

        /// <summary>What WaitPublished throws once its caller is gone, as a handler reading from the call would; null: the cancellation itself.</summary>
        public Exception? WaitFailure { get; init; }

        /// <summary>What GetBlob of id 13 throws.</summary>
        public Exception Failure { get; init; } = new InvalidOperationException("the fake broke");

        public ValueTask<BlobInfo> GetBlobAsync(BlobRef request, CancellationToken cancellationToken) => request.Id switch
        {
            7 => throw new BlobSeerException(ErrorCode.NotFound, "blob 7 not found"),
            13 => throw Failure,
            _ => ValueTask.FromResult(new BlobInfo { Id = request.Id, Name = $"blob-{request.Id}" }),
        };

        public ValueTask<ListBlobsResponse> ListBlobsAsync(Empty request, CancellationToken cancellationToken)
        {
            var response = new ListBlobsResponse();
            for (int i = 0; i < 1000; i++)
            {
                response.Blobs.Add(new BlobInfo { Id = (ulong)i, Name = $"blob-{i}", PageSize = 65536 });
            }

            return ValueTask.FromResult(response);
        }

        public async ValueTask<VersionInfo> WaitPublishedAsync(WaitPublishedRequest request, CancellationToken cancellationToken)
        {
            using CancellationTokenRegistration registration = cancellationToken.Register(() => WaitCancelled.TrySetResult());
            WaitStarted.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException) when (WaitFailure is not null)
            {
                throw WaitFailure;
            }

            return new VersionInfo();
        }

        public ValueTask<AssignVersionResponse> AssignVersionAsync(AssignVersionRequest request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<Empty> CompleteVersionAsync(VersionRequest request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<Empty> RenewLeaseAsync(VersionRequest request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<ClusterMap> ChangeMetadataAsync(ChangeMetadataRequest request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<Empty> DeleteBlobAsync(BlobRef request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<Empty> DeleteVersionsAsync(DeleteVersionsRequest request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<Empty> TagAsync(TagRequest request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<Empty> UntagAsync(UntagRequest request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<BlobInfo> SetRetentionAsync(SetRetentionRequest request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<GcRootsResponse> GetGcRootsAsync(GcRootsRequest request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<VersionInfo> GetVersionAsync(VersionRequest request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<ListVersionsResponse> ListVersionsAsync(BlobRef request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<BlobInfo> CloneAsync(CloneRequest request, CancellationToken cancellationToken) => throw Unimplemented();

        public ValueTask<ClusterMap> GetClusterMapAsync(Empty request, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new ClusterMap { VersionManager = "vm:1" });

        private static BlobSeerException Unimplemented([CallerMemberName] string method = "") => new(ErrorCode.Unimplemented, $"{method} is not faked");
    }

    /// <summary>A data provider backed by a dictionary; it copies page bytes, as the aliasing contract requires.</summary>
    private sealed class InMemoryDataProvider : IDataProviderService
    {
        private readonly ConcurrentDictionary<string, (byte[] Data, uint Crc)> _pages = new();

        public int Count => _pages.Count;

        public byte[] Get(byte[] pageId) => _pages[Convert.ToHexString(pageId)].Data;

        public uint Crc(byte[] pageId) => _pages[Convert.ToHexString(pageId)].Crc;

        public ValueTask<Empty> PutPageAsync(PutPageRequest request, CancellationToken cancellationToken)
        {
            _pages[Convert.ToHexString(request.PageId.Span)] = (request.Data.ToByteArray(), request.Crc32C);
            return ValueTask.FromResult(new Empty());
        }

        public ValueTask<GetPageResponse> GetPageAsync(GetPageRequest request, CancellationToken cancellationToken)
        {
            if (!_pages.TryGetValue(Convert.ToHexString(request.PageId.Span), out var page))
            {
                throw new BlobSeerException(ErrorCode.NotFound, $"page {request.PageId.ToBase64()} not found");
            }

            int offset = (int)Math.Min(request.Offset, (uint)page.Data.Length);
            int length = request.Length == 0 ? page.Data.Length - offset : (int)Math.Min(request.Length, (uint)(page.Data.Length - offset));
            return ValueTask.FromResult(new GetPageResponse
            {
                StoredLength = (uint)page.Data.Length,
                Data = UnsafeByteOperations.UnsafeWrap(page.Data.AsMemory(offset, length)),
            });
        }

        public ValueTask<DataStats> StatsAsync(Empty request, CancellationToken cancellationToken)
        {
            ulong bytes = 0;
            foreach (var page in _pages.Values)
            {
                bytes += (ulong)page.Data.Length;
            }

            return ValueTask.FromResult(new DataStats { Pages = (ulong)_pages.Count, Bytes = bytes });
        }

        public ValueTask<DeletePagesResponse> DeletePagesAsync(DeletePagesRequest request, CancellationToken cancellationToken) =>
            throw new BlobSeerException(ErrorCode.Unimplemented, "DeletePages is not faked");

        public ValueTask<ListPagesResponse> ListPagesAsync(ListPagesRequest request, CancellationToken cancellationToken) =>
            throw new BlobSeerException(ErrorCode.Unimplemented, "ListPages is not faked");
    }
}
