using System.Runtime.Versioning;

// The testbed (network namespaces, tc), the mirror scenarios (FUSE) and the agents are Linux-only.
[assembly: SupportedOSPlatform("linux")]
