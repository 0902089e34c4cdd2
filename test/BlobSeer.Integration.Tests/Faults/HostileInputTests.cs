using BlobSeer.Core;
using BlobSeer.Protocol.Messages;
using BlobSeer.Protocol.PageTransport;
using BlobSeer.Protocol.Rpc;
using Google.Protobuf;
using Paths = BlobSeer.Protocol.Rpc.ServicePaths;

namespace BlobSeer.Integration.Tests.Faults;

/// <summary>
/// Issue 3 (5): bad input on every wire — broken gRPC framing, garbage protobuf, missing and wrong
/// secrets, unknown blobs, versions, pages and nodes, negative and overflowing offsets, page-transport
/// frames no client sends — each answered with an error status; attempts to overwrite what is
/// stored change nothing; the cluster keeps serving and every acknowledged version reads back.
/// </summary>
[Collection("Faults")]
[Trait("Category", "Slow")]
[Trait("Category", "Faults")]
public sealed class HostileInputTests(FaultSuite suite)
{
    private sealed record Case(string Name, Func<Task<ErrorCode?>> Send, ErrorCode[] Expected);

    [Fact(Timeout = 180_000)]
    public async Task Bad_input_is_answered_with_an_error_status_and_nothing_is_lost()
    {
        using var run = new FaultRun(suite, nameof(Bad_input_is_answered_with_an_error_status_and_nothing_is_lost), 20);
        await using var cluster = await FaultCluster.StartAsync(new ClusterLayout { DataProviders = 3 }, run.ClusterDirectory, run.Log);
        var oracle = new Oracle();
        var load = new MixedLoad(cluster, oracle, run.Log, new LoadOptions { Writers = 3, Readers = 0, MaxClones = 1, MaxOperations = 60 }, run.Seed, new AssignmentGate());
        await load.CreateBlobsAsync(TestContext.Current.CancellationToken);
        await load.RunAsync(TestContext.Current.CancellationToken);

        // What the hostile requests aim at: a real blob, its latest version's root node, a stored page.
        var data0 = new RoleId(RoleKind.Data, 0);
        var blobId = oracle.Blobs[0];
        using var vmChannel = cluster.Channel(new RoleId(RoleKind.VersionManager, 0));
        var latest = (await new VersionManagerClient(vmChannel).GetBlobAsync(new BlobRef { Id = blobId })).LatestVersion;
        var root = (await new VersionManagerClient(vmChannel).GetVersionAsync(new VersionRequest { Blob = blobId, Version = latest })).Root;
        var page = SegmentFiles.Records(SegmentFiles.Of(cluster.StateDirectory(data0))[0]).First(r => r.Length > 100);
        run.Say($"targets: blob {blobId} v{latest} (root {root}), page {page.Id} ({page.Length} bytes) on {data0}");

        var cases = Cases(cluster, blobId, latest, root, page).ToList();
        var wrong = new List<string>();
        foreach (var c in cases)
        {
            ErrorCode? answer;
            try
            {
                answer = await c.Send();
            }
            catch (Exception e) when (e is HttpRequestException or IOException or BlobSeerException)
            {
                answer = null;
                run.Say($"  {c.Name}: {e.GetType().Name}: {e.Message}");
            }

            var ok = c.Expected.Length == 0 || (answer is { } a && c.Expected.Contains(a));
            run.Say($"  {(ok ? "ok  " : "BAD ")} {c.Name}: {answer?.ToString() ?? "no answer"}{(ok ? "" : $" (expected {string.Join(" or ", c.Expected)})")}");
            if (!ok)
            {
                wrong.Add($"{c.Name}: {answer?.ToString() ?? "no answer"}, expected {string.Join(" or ", c.Expected)}");
            }
        }

        // Nothing was lost or changed, and the cluster still takes writes.
        await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(30));
        using var client = await cluster.ConnectAsync();
        var verification = await Verifier.VerifyAsync(oracle, client, run.Log, TimeSpan.FromSeconds(15));
        var after = await client.OpenBlobAsync(blobId);
        var bytes = new byte[5000];
        Random.Shared.NextBytes(bytes);
        var version = await after.AppendAsync(bytes);
        var back = new byte[bytes.Length];
        await after.ReadAsync(version, (await after.GetSizeAsync(version)) - bytes.Length, back);
        run.Report(new FaultFigures
        {
            OpsAcknowledged = oracle.Acknowledged + oracle.ClonesAcknowledged + 1,
            BadInputs = cases.Count,
            VersionsVerified = verification.VersionsVerified,
            BytesLost = verification.BytesLost,
        });

        wrong.ShouldBeEmpty(run.Log.ToString());
        verification.Problems.ShouldBeEmpty(verification.ToString());
        back.ShouldBe(bytes);
        cluster.Crashes().ShouldBeEmpty();
        run.Passed = true;
    }

    private static IEnumerable<Case> Cases(FaultCluster cluster, ulong blob, ulong latest, NodeKey root, SegmentRecord page)
    {
        var secret = cluster.Secret;
        var vm = cluster.Listen(new RoleId(RoleKind.VersionManager, 0));
        var pm = cluster.Listen(new RoleId(RoleKind.ProviderManager, 0));
        var md = cluster.RolesOf(RoleKind.Metadata).Select(cluster.Listen).ToList();
        var data0 = new RoleId(RoleKind.Data, 0);
        var data = cluster.Listen(data0);
        var pages = cluster.PageEndpoint(data0);
        const ulong Unknown = 987_654_321;
        var invalid = ErrorCode.InvalidArgument;
        var notFound = ErrorCode.NotFound;
        var refused = ErrorCode.Unauthenticated;

        Case Grpc(string name, string endpoint, string path, byte[] body, string? withSecret, params ErrorCode[] expected) =>
            new(name, () => RawWire.GrpcAsync(endpoint, path, body, withSecret), expected);
        Case Call(string name, string endpoint, string path, IMessage message, params ErrorCode[] expected) =>
            Grpc(name, endpoint, path, RawWire.Frame(message), secret, expected);
        Case Pages(string name, ErrorCode[] expected, bool close, params byte[][] frames) =>
            new(name, () => RawWire.PagesAsync(pages, frames, close), expected);
        AssignVersionRequest Write(ulong offset, ulong length) => new() { Blob = blob, Ranges = { new Protocol.Messages.ByteRange { Offset = offset, Length = length } } };

        // gRPC framing, on a call that would otherwise create a blob. Since decision 0009 the framing
        // is Grpc.AspNetCore's, and so are these answers: a broken frame is Internal (our own server
        // said InvalidArgument, and Unimplemented for a compressed flag), and a request that does not
        // deserialize is Unknown (it fails inside the library, before any interceptor of ours runs).
        var create = new CreateBlobRequest { Name = "hostile" }.ToByteArray();
        var broken = ErrorCode.Internal;
        var undecodable = ErrorCode.Unknown;
        yield return Grpc("gRPC frame shorter than its prefix says", vm, Paths.VersionManager.CreateBlob, RawWire.Frame(create, length: 100)[..(5 + create.Length)], secret, broken);
        yield return Grpc("gRPC prefix cut after 3 bytes", vm, Paths.VersionManager.CreateBlob, [0, 0, 0], secret, broken);
        yield return Grpc("gRPC length of 2 GiB", vm, Paths.VersionManager.CreateBlob, RawWire.Frame(create, length: 0x7fff_fff0), secret, ErrorCode.ResourceExhausted);
        yield return Grpc("gRPC compressed flag without compression", vm, Paths.VersionManager.CreateBlob, RawWire.Frame(create, flag: 1), secret, broken);
        yield return Grpc("gRPC two messages in a unary call", vm, Paths.VersionManager.CreateBlob, [.. RawWire.Frame(create), .. RawWire.Frame(create)], secret, broken);
        yield return Grpc("gRPC unknown method", vm, "/blobseer.v1.VersionManager/DropEverything", RawWire.Frame([]), secret, ErrorCode.Unimplemented);

        // Garbage protobuf, one kind per role: an invalid wire type, a length past the end, a truncated varint.
        byte[] wireType7 = [0x0f, 0xff, 0xff, 0xff, 0xff];
        byte[] lengthPastEnd = [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x41];
        byte[] truncatedVarint = [0x08, 0xff, 0xff];
        yield return Grpc("garbage protobuf to AssignVersion", vm, Paths.VersionManager.AssignVersion, RawWire.Frame(wireType7), secret, undecodable);
        yield return Grpc("garbage protobuf to Register", pm, Paths.ProviderManager.Register, RawWire.Frame(lengthPastEnd), secret, undecodable);
        yield return Grpc("garbage protobuf to PutNodes", md[0], Paths.MetadataProvider.PutNodes, RawWire.Frame(lengthPastEnd), secret, undecodable);
        yield return Grpc("garbage protobuf to PutPage", data, Paths.DataProvider.PutPage, RawWire.Frame(truncatedVarint), secret, undecodable);

        // Secrets.
        var map = RawWire.Frame(new Empty());
        yield return Grpc("no secret to the version manager", vm, Paths.VersionManager.GetClusterMap, map, null, refused);
        yield return Grpc("wrong secret to the version manager", vm, Paths.VersionManager.GetClusterMap, map, secret.ToUpperInvariant(), refused);
        yield return Grpc("wrong secret to a data provider's PutPage", data, Paths.DataProvider.PutPage,
            RawWire.Frame(new PutPageRequest { PageId = ByteString.CopyFrom(new byte[16]), Data = ByteString.CopyFrom(new byte[10]) }), "0000000000000000", refused);
        yield return Grpc("wrong secret to a metadata provider's PutNodes", md[1], Paths.MetadataProvider.PutNodes, RawWire.Frame(new PutNodesRequest()), secret[..^1] + "x", refused);
        yield return Grpc("no secret to the provider manager's Allocate", pm, Paths.ProviderManager.Allocate, RawWire.Frame(new AllocateRequest { Pages = 1, Replication = 1 }), null, refused);

        // Unknown ids.
        yield return Call("GetBlob of an unknown id", vm, Paths.VersionManager.GetBlob, new BlobRef { Id = Unknown }, notFound);
        yield return Call("GetBlob of an unknown name", vm, Paths.VersionManager.GetBlob, new BlobRef { Name = "no-such-blob" }, notFound);
        yield return Call("AssignVersion on an unknown blob", vm, Paths.VersionManager.AssignVersion, new AssignVersionRequest { Blob = Unknown, AppendLength = 10 }, notFound);
        yield return Call("GetVersion of an unknown version", vm, Paths.VersionManager.GetVersion, new VersionRequest { Blob = blob, Version = latest + 1000 }, notFound);
        yield return Call("CompleteVersion of an unknown version", vm, Paths.VersionManager.CompleteVersion, new VersionRequest { Blob = blob, Version = latest + 1000 }, notFound);
        yield return Call("CompleteVersion of version 0", vm, Paths.VersionManager.CompleteVersion, new VersionRequest { Blob = blob, Version = 0 }, notFound);
        yield return Call("WaitPublished of an unknown version", vm, Paths.VersionManager.WaitPublished, new WaitPublishedRequest { Blob = blob, Version = latest + 1000, TimeoutMs = 100 }, notFound);
        yield return Call("Clone of an unknown version", vm, Paths.VersionManager.Clone, new CloneRequest { Blob = blob, Version = latest + 1000 }, notFound);
        yield return Call("ListVersions of an unknown blob", vm, Paths.VersionManager.ListVersions, new BlobRef { Id = Unknown }, notFound);
        yield return Call("GetNodes of a node nobody stored", md[2], Paths.MetadataProvider.GetNodes, new GetNodesRequest { Keys = { new NodeKey { Blob = Unknown, Version = 1, First = 0, Count = 1 } } }, notFound);
        yield return Call("GetNodes of a key that is no aligned range", md[0], Paths.MetadataProvider.GetNodes, new GetNodesRequest { Keys = { new NodeKey { Blob = blob, Version = 1, First = 3, Count = 2 } } }, invalid);
        yield return Call("GetPage of an unknown page", data, Paths.DataProvider.GetPage, new GetPageRequest { PageId = ByteString.CopyFrom(new byte[16]) }, notFound);
        yield return Call("GetPage with a 3-byte page id", data, Paths.DataProvider.GetPage, new GetPageRequest { PageId = ByteString.CopyFrom([1, 2, 3]) }, invalid);

        // Negative and overflowing offsets and lengths.
        yield return Call("write at offset 2^64 - 11 (negative as a long)", vm, Paths.VersionManager.AssignVersion, Write(ulong.MaxValue - 10, 100), invalid);
        yield return Call("write at offset 2^63", vm, Paths.VersionManager.AssignVersion, Write(1UL << 63, 1), invalid);
        yield return Call("write whose end overflows the size limit", vm, Paths.VersionManager.AssignVersion, Write((1UL << 50) - 10, 100), invalid);
        yield return Call("write of length 0", vm, Paths.VersionManager.AssignVersion, Write(0, 0), invalid);
        yield return Call("write of two overlapping ranges", vm, Paths.VersionManager.AssignVersion,
            new AssignVersionRequest { Blob = blob, Ranges = { new Protocol.Messages.ByteRange { Offset = 0, Length = 10 }, new Protocol.Messages.ByteRange { Offset = 5, Length = 10 } } }, invalid);
        yield return Call("append of 2^63 bytes", vm, Paths.VersionManager.AssignVersion, new AssignVersionRequest { Blob = blob, AppendLength = 1UL << 63 }, invalid);
        yield return Call("both a write and an append", vm, Paths.VersionManager.AssignVersion,
            new AssignVersionRequest { Blob = blob, AppendLength = 1, Ranges = { new Protocol.Messages.ByteRange { Offset = 0, Length = 1 } } }, invalid);
        yield return Call("GetPage at an offset past the page", data, Paths.DataProvider.GetPage,
            new GetPageRequest { PageId = ByteString.CopyFrom(page.PageId), Offset = (uint)page.Length + 1 }, ErrorCode.OutOfRange);
        yield return Call("GetPage at offset 2^32 - 1", data, Paths.DataProvider.GetPage,
            new GetPageRequest { PageId = ByteString.CopyFrom(page.PageId), Offset = uint.MaxValue, Length = 10 }, ErrorCode.OutOfRange);
        yield return Call("Allocate of 0 pages", pm, Paths.ProviderManager.Allocate, new AllocateRequest { Pages = 0, Replication = 2 }, invalid);
        yield return Call("Allocate of 4 billion pages", pm, Paths.ProviderManager.Allocate, new AllocateRequest { Pages = uint.MaxValue, Replication = 2 }, invalid);
        yield return Call("a replication of 17", vm, Paths.VersionManager.CreateBlob, new CreateBlobRequest { Replication = 17 }, invalid);
        yield return Call("a page size that is no power of two", vm, Paths.VersionManager.CreateBlob, new CreateBlobRequest { PageSize = 3000 }, invalid);

        // Tree nodes that break the tree's rules.
        yield return Call("PutNodes of a node without a key", md[0], Paths.MetadataProvider.PutNodes, new PutNodesRequest { Nodes = { new TreeNode() } }, invalid);
        yield return Call("PutNodes of a leaf aliasing a later version", md[0], Paths.MetadataProvider.PutNodes, new PutNodesRequest
        {
            Nodes = { new TreeNode { Key = new NodeKey { Blob = Unknown, Version = 2, First = 0, Count = 1 }, Alias = new NodeKey { Blob = Unknown, Version = 3, First = 0, Count = 1 } } },
        }, invalid);
        yield return Call("PutNodes of an inner node with a misplaced child", md[0], Paths.MetadataProvider.PutNodes, new PutNodesRequest
        {
            Nodes = { new TreeNode { Key = new NodeKey { Blob = Unknown, Version = 2, First = 0, Count = 4 }, Left = new NodeKey { Blob = Unknown, Version = 2, First = 2, Count = 2 } } },
        }, invalid);

        // Stored data cannot be replaced: answered or not, nothing changes (the verification shows it).
        var forged = new byte[page.Length];
        yield return Call("PutPage with a CRC that does not match", data, Paths.DataProvider.PutPage,
            new PutPageRequest { PageId = ByteString.CopyFrom(new byte[16]), Crc32C = 1, Data = ByteString.CopyFrom(new byte[10]) }, ErrorCode.InvalidArgument, ErrorCode.DataLoss);
        yield return Call("PutPage over a stored page id with other bytes", data, Paths.DataProvider.PutPage,
            new PutPageRequest { PageId = ByteString.CopyFrom(page.PageId), Crc32C = Crc32C.Compute(forged), Data = ByteString.CopyFrom(forged) }, [ErrorCode.Ok, ErrorCode.AlreadyExists]);
        foreach (var member in md)
        {
            yield return Call($"PutNodes over the stored root on {member}", member, Paths.MetadataProvider.PutNodes, new PutNodesRequest
            {
                Nodes = { new TreeNode { Key = root, Left = new NodeKey { Blob = root.Blob, Version = root.Version + 1000, First = root.First, Count = root.Count / 2 } } },
            }, root.Count > 1 ? [ErrorCode.Ok, ErrorCode.AlreadyExists] : [ErrorCode.InvalidArgument]);
        }

        // The page transport.
        var hello = RawWire.Hello(secret);
        var unknownPage = new byte[16];
        yield return Pages("page frame with a bad magic", [invalid], close: false, [.. new byte[32]]);
        yield return Pages("page Get without presenting the secret", [refused], close: false, RawWire.PageRequest(PageFrames.Op.Get, page.PageId, 0, 0));
        yield return Pages("page Hello with a wrong secret", [refused], close: false, RawWire.Hello(new string('z', secret.Length)));
        yield return Pages("page Hello claiming a 1 GiB secret", [refused], close: false, RawWire.PageRequest(PageFrames.Op.Hello, unknownPage, 0, 1 << 30));
        yield return Pages("page Put of 4 GiB", [invalid], close: false, hello, RawWire.PageRequest(PageFrames.Op.Put, unknownPage, 0, uint.MaxValue));
        yield return Pages("page Put with a CRC that does not match", [invalid, ErrorCode.DataLoss], close: false, hello, RawWire.PageRequest(PageFrames.Op.Put, unknownPage, 7, 4, [1, 2, 3, 4]));
        yield return Pages("page Get of an unknown page", [notFound], close: false, hello, RawWire.PageRequest(PageFrames.Op.Get, unknownPage, 0, 0));
        yield return Pages("page Get at an offset past the page", [ErrorCode.OutOfRange], close: false, hello, RawWire.PageRequest(PageFrames.Op.Get, page.PageId, (uint)page.Length + 1, 0));
        yield return Pages("page header cut after 10 bytes, then closed", [ErrorCode.Ok], close: true, hello, new byte[10]);
        yield return Pages("page Put whose body never arrives, then closed", [ErrorCode.Ok], close: true, hello, RawWire.PageRequest(PageFrames.Op.Put, unknownPage, 0, 1000, new byte[10]));
    }
}
