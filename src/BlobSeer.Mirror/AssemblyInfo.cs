using System.Runtime.Versioning;

// The mirror serves images through Linux FUSE and Linux file calls (fallocate, SEEK_DATA).
[assembly: SupportedOSPlatform("linux")]
