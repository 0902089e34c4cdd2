using System.Text;

namespace BlobSeer.Fuse;

/// <summary>
/// Adds entries to the listing that a readdir call is building: libfuse's
/// <c>fuse_fill_dir_t</c> and its buffer, valid only during that call.
/// </summary>
public readonly unsafe ref struct FuseDirectoryFiller
{
    /// <summary>The longest entry name in bytes (<c>NAME_MAX</c>).</summary>
    public const int MaxNameLength = 255;

    private readonly void* _buffer;
    private readonly delegate* unmanaged[Cdecl]<void*, byte*, FuseFileStat*, long, int, int> _fill;

    internal FuseDirectoryFiller(void* buffer, delegate* unmanaged[Cdecl]<void*, byte*, FuseFileStat*, long, int, int> fill)
    {
        _buffer = buffer;
        _fill = fill;
    }

    /// <summary>Adds an entry named by UTF-8 bytes; false when libfuse could not take it (out of memory).</summary>
    /// <exception cref="ArgumentException">The name is empty, longer than <see cref="MaxNameLength"/> or contains '/' or NUL.</exception>
    public bool Add(ReadOnlySpan<byte> name) => Add(name, null);

    /// <summary>Adds an entry whose file type libfuse takes from <paramref name="stat"/>.</summary>
    /// <inheritdoc cref="Add(ReadOnlySpan{byte})"/>
    public bool Add(ReadOnlySpan<byte> name, in FuseFileStat stat)
    {
        fixed (FuseFileStat* s = &stat)
            return Add(name, s);
    }

    /// <summary>Adds an entry named by a string, encoded without allocating.</summary>
    /// <inheritdoc cref="Add(ReadOnlySpan{byte})"/>
    public bool Add(string name)
    {
        Span<byte> utf8 = stackalloc byte[MaxNameLength * 3];
        if (!Encoding.UTF8.TryGetBytes(name, utf8, out int length))
            throw new ArgumentException($"The entry name '{name}' is longer than {MaxNameLength} bytes.", nameof(name));
        return Add(utf8[..length], null);
    }

    private bool Add(ReadOnlySpan<byte> name, FuseFileStat* stat)
    {
        if (name.IsEmpty || name.Length > MaxNameLength || name.IndexOfAny((byte)'/', (byte)0) >= 0)
            throw new ArgumentException($"'{Encoding.UTF8.GetString(name)}' is not a valid directory entry name.", nameof(name));
        // libfuse wants a C string; the name is copied to the stack with its terminator.
        byte* terminated = stackalloc byte[MaxNameLength + 1];
        name.CopyTo(new Span<byte>(terminated, MaxNameLength));
        terminated[name.Length] = 0;
        // Offset 0 selects libfuse's buffered mode: the whole listing is built in this one call.
        // Flags stay 0 (no FUSE_FILL_DIR_PLUS): libfuse would look every entry up again anyway.
        return _fill(_buffer, terminated, stat, 0, 0) == 0;
    }
}
