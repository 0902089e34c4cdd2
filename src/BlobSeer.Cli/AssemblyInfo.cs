using System.Runtime.Versioning;

// The mirroring verbs (mount, nbd, snapshot) are Linux-only, like the FUSE module they drive.
[assembly: SupportedOSPlatform("linux")]
