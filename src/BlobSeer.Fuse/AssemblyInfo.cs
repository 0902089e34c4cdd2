using System.Runtime.Versioning;

// libfuse3 and the mount calls around it (fusermount3, /proc/self/mountinfo) are Linux's.
[assembly: SupportedOSPlatform("linux")]
