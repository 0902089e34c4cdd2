using System.Text;

namespace BlobSeer.Fuse.Tests;

/// <summary>
/// A flat in-memory file system for mount tests: files created up front, grown by writes, and
/// instrumented (largest read, allocations between reads). Lookups compare UTF-8 spans so the
/// read path allocates nothing, like the mirror's must not.
/// </summary>
internal sealed class MemoryFileSystem : FuseFileSystemBase
{
    private const uint FilePermissions = 0b110_100_100;

    private readonly List<MemoryFile> _files = [];
    private long _largestRead;
    private long _reads;

    /// <summary>Reads of this file throw, to exercise the errno boundary.</summary>
    public string? FailingFile { get; set; }

    /// <summary>Whether open sets direct_io, so reads reach us at the application's sizes.</summary>
    public bool DirectIo { get; set; }

    /// <summary>The largest read request that reached the file system.</summary>
    public long LargestRead => Interlocked.Read(ref _largestRead);

    /// <summary>How many read requests reached the file system.</summary>
    public long Reads => Interlocked.Read(ref _reads);

    /// <summary>Managed bytes allocated on worker threads between one read returning and the next starting there, after warm-up.</summary>
    public AllocationProbe Allocations { get; } = new();

    public void Add(string name, byte[] content) => _files.Add(new MemoryFile(Encoding.UTF8.GetBytes("/" + name), content));

    /// <summary>A copy of a file's current contents.</summary>
    public byte[] Contents(string name)
    {
        MemoryFile file = Find(Encoding.UTF8.GetBytes("/" + name)) ?? throw new FileNotFoundException(name);
        lock (file)
            return file.Data.AsSpan(0, (int)file.Length).ToArray();
    }

    public override int GetAttr(ReadOnlySpan<byte> path, ref FuseFileStat stat)
    {
        if (IsRoot(path))
            return base.GetAttr(path, ref stat);
        MemoryFile? file = Find(path);
        if (file is null)
            return -Errno.ENOENT;
        stat.SetRegularFile(Interlocked.Read(ref file.Length), FilePermissions);
        return 0;
    }

    public override int ReadDir(ReadOnlySpan<byte> path, FuseDirectoryFiller filler)
    {
        if (!IsRoot(path))
            return -Errno.ENOENT;
        filler.Add("."u8);
        filler.Add(".."u8);
        foreach (MemoryFile file in _files)
            filler.Add(file.Path.AsSpan(1));
        return 0;
    }

    public override int Open(ReadOnlySpan<byte> path, ref FuseFileInfo fileInfo)
    {
        MemoryFile? file = Find(path);
        if (file is null)
            return -Errno.ENOENT;
        if (fileInfo.Truncates)
        {
            lock (file)
                Interlocked.Exchange(ref file.Length, 0);
        }
        fileInfo.DirectIo = DirectIo;
        return 0;
    }

    public override int Read(ReadOnlySpan<byte> path, Span<byte> buffer, long offset, ref FuseFileInfo fileInfo)
    {
        Allocations.Enter();
        try
        {
            Interlocked.Increment(ref _reads);
            long largest;
            while (buffer.Length > (largest = Interlocked.Read(ref _largestRead)) &&
                   Interlocked.CompareExchange(ref _largestRead, buffer.Length, largest) != largest)
            {
            }
            MemoryFile? file = Find(path);
            if (file is null)
                return -Errno.ENOENT;
            if (FailingFile is not null && path[1..].SequenceEqual(Encoding.UTF8.GetBytes(FailingFile)))
                throw new InvalidOperationException("injected read failure");
            lock (file)
            {
                if (offset >= file.Length)
                    return 0;
                int count = (int)Math.Min(buffer.Length, file.Length - offset);
                file.Data.AsSpan((int)offset, count).CopyTo(buffer);
                return count;
            }
        }
        finally
        {
            Allocations.Exit();
        }
    }

    public override int Write(ReadOnlySpan<byte> path, ReadOnlySpan<byte> data, long offset, ref FuseFileInfo fileInfo)
    {
        MemoryFile? file = Find(path);
        if (file is null)
            return -Errno.ENOENT;
        lock (file)
        {
            long end = offset + data.Length;
            if (end > file.Data.Length)
                Array.Resize(ref file.Data, (int)Math.Max(end, file.Data.Length * 2L));
            if (offset > file.Length)
                file.Data.AsSpan((int)file.Length, (int)(offset - file.Length)).Clear();
            data.CopyTo(file.Data.AsSpan((int)offset));
            Interlocked.Exchange(ref file.Length, Math.Max(file.Length, end));
        }
        return data.Length;
    }

    public override int Truncate(ReadOnlySpan<byte> path, long length)
    {
        MemoryFile? file = Find(path);
        if (file is null)
            return -Errno.ENOENT;
        lock (file)
        {
            if (length > file.Data.Length)
                Array.Resize(ref file.Data, (int)length);
            if (length > file.Length)
                file.Data.AsSpan((int)file.Length, (int)(length - file.Length)).Clear();
            Interlocked.Exchange(ref file.Length, length);
        }
        return 0;
    }

    public override int FSync(ReadOnlySpan<byte> path, bool dataOnly, ref FuseFileInfo fileInfo) => 0;

    private MemoryFile? Find(ReadOnlySpan<byte> path)
    {
        foreach (MemoryFile file in _files)
        {
            if (path.SequenceEqual(file.Path))
                return file;
        }
        return null;
    }

    private sealed class MemoryFile(byte[] path, byte[] data)
    {
        public readonly byte[] Path = path;
        public byte[] Data = data;
        public long Length = data.Length;
    }
}

/// <summary>
/// Measures what the binding allocates around the file system's read: the managed bytes a worker
/// thread allocated from the end of one read to the start of its next one.
/// </summary>
internal sealed class AllocationProbe
{
    private const int WarmUpReads = 200;

    [ThreadStatic] private static long t_lastExit;
    [ThreadStatic] private static int t_reads;
    private long _bytes;
    private long _measured;

    public long Bytes => Interlocked.Read(ref _bytes);

    public long MeasuredGaps => Interlocked.Read(ref _measured);

    public void Enter()
    {
        long now = GC.GetAllocatedBytesForCurrentThread();
        if (++t_reads > WarmUpReads)
        {
            Interlocked.Add(ref _bytes, now - t_lastExit);
            Interlocked.Increment(ref _measured);
        }
    }

    public void Exit() => t_lastExit = GC.GetAllocatedBytesForCurrentThread();
}
