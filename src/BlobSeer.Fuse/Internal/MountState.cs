namespace BlobSeer.Fuse.Internal;

/// <summary>
/// What the callbacks of one mount need, reached through a <see cref="System.Runtime.InteropServices.GCHandle"/>
/// that libfuse carries as private data; also what the kernel and libfuse agreed on at INIT.
/// </summary>
internal sealed unsafe class MountState(IFuseFileSystem fileSystem, FuseMountOptions options)
{
    public IFuseFileSystem FileSystem { get; } = fileSystem;

    public FuseMountOptions Options { get; } = options;

    /// <summary>The largest write request libfuse accepted (its buffer may cap our option); 0 before INIT.</summary>
    public uint MaxWrite { get; private set; }

    /// <summary>The readahead window the kernel offered and we accepted; 0 before INIT.</summary>
    public uint MaxReadahead { get; private set; }

    /// <summary>Sets the connection limits and the high-level library's caching knobs during INIT.</summary>
    public void Configure(FuseConnInfo* conn, FuseConfig* config)
    {
        uint size = (uint)Options.MaxReadWrite;
        // libfuse already lowered max_write to its buffer (256 pages) and max_readahead to the
        // kernel's offer; we may only lower them further. max_read must equal the -o max_read
        // given at fuse_new, or libfuse refuses the connection with EPROTO.
        conn->MaxWrite = Math.Min(conn->MaxWrite, size);
        conn->MaxReadahead = Math.Min(conn->MaxReadahead, size);
        conn->MaxRead = size;
        MaxWrite = conn->MaxWrite;
        MaxReadahead = conn->MaxReadahead;

        // Paths, not inode numbers, identify files here; libfuse then numbers inodes itself.
        config->UseIno = 0;
        config->EntryTimeout = Options.EntryTimeout.TotalSeconds;
        config->AttrTimeout = Options.AttrTimeout.TotalSeconds;
        config->NegativeTimeout = 0;
        config->KernelCache = Options.KeepCache ? 1 : 0;
        config->AutoCache = 0;
        config->DirectIo = 0;
    }
}
