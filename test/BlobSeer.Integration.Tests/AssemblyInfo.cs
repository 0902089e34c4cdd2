using System.Runtime.Versioning;

// Multi-process clusters, FUSE, network namespaces: the integration tests run on Linux only, as
// the benchmark lab (BlobSeer.Bench) whose launcher and testbed they share.
[assembly: SupportedOSPlatform("linux")]
