namespace BlobSeer.Nbd;

/// <summary>
/// The numbers of the NBD protocol (NetworkBlockDevice/nbd, doc/proto.md). Every integer on the
/// wire is big-endian. Only the fixed newstyle handshake is spoken: oldstyle cannot carry export
/// names or errors, and every client we serve (QEMU, libnbd, the kernel's nbd-client) speaks it.
/// </summary>
internal static class NbdProtocol
{
    /// <summary>"NBDMAGIC": the first eight bytes the server sends.</summary>
    public const ulong InitMagic = 0x4e42444d41474943;

    /// <summary>"IHAVEOPT": follows <see cref="InitMagic"/>, and starts every option the client sends.</summary>
    public const ulong OptionMagic = 0x49484156454F5054;

    /// <summary>Starts every option reply.</summary>
    public const ulong OptionReplyMagic = 0x3e889045565a9;

    /// <summary>Starts every transmission request.</summary>
    public const uint RequestMagic = 0x25609513;

    /// <summary>Starts a simple reply.</summary>
    public const uint SimpleReplyMagic = 0x67446698;

    /// <summary>Starts a structured reply chunk.</summary>
    public const uint StructuredReplyMagic = 0x668e33ef;

    /// <summary>Bytes of a request header: magic, flags, type, cookie, offset, length.</summary>
    public const int RequestHeaderLength = 28;

    /// <summary>Bytes of an option header after the magic: option and length.</summary>
    public const int OptionHeaderLength = 16;

    /// <summary>The longest string (export name, query, message) the protocol allows.</summary>
    public const int MaxStringLength = 4096;

    /// <summary>The only metadata context we offer.</summary>
    public const string BaseAllocation = "base:allocation";

    /// <summary>The id we give <see cref="BaseAllocation"/> when a client selects it; any nonzero value works.</summary>
    public const uint BaseAllocationId = 1;
}

/// <summary>Handshake flags (server) and client flags; the same two bits on both sides.</summary>
[Flags]
internal enum NbdHandshakeFlags : uint
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}

/// <summary>Transmission flags, sent with the export size.</summary>
[Flags]
internal enum NbdTransmissionFlags : ushort
{
    HasFlags = 1 << 0,
    ReadOnly = 1 << 1,
    SendFlush = 1 << 2,
    SendFua = 1 << 3,
    Rotational = 1 << 4,
    SendTrim = 1 << 5,
    SendWriteZeroes = 1 << 6,
    SendDf = 1 << 7,
    CanMultiConn = 1 << 8,
    SendCache = 1 << 10,
}

internal enum NbdOption : uint
{
    ExportName = 1,
    Abort = 2,
    List = 3,
    StartTls = 5,
    Info = 6,
    Go = 7,
    StructuredReply = 8,
    ListMetaContext = 9,
    SetMetaContext = 10,
}

internal enum NbdOptionReply : uint
{
    Ack = 1,
    Server = 2,
    Info = 3,
    MetaContext = 4,
    ErrUnsupported = (1u << 31) + 1,
    ErrPolicy = (1u << 31) + 2,
    ErrInvalid = (1u << 31) + 3,
    ErrPlatform = (1u << 31) + 4,
    ErrTlsRequired = (1u << 31) + 5,
    ErrUnknown = (1u << 31) + 6,
    ErrShutdown = (1u << 31) + 7,
    ErrBlockSizeRequired = (1u << 31) + 8,
    ErrTooBig = (1u << 31) + 9,
}

internal enum NbdInfo : ushort
{
    Export = 0,
    Name = 1,
    Description = 2,
    BlockSize = 3,
}

internal enum NbdCommand : ushort
{
    Read = 0,
    Write = 1,
    Disconnect = 2,
    Flush = 3,
    Trim = 4,
    Cache = 5,
    WriteZeroes = 6,
    BlockStatus = 7,
}

[Flags]
internal enum NbdCommandFlags : ushort
{
    None = 0,
    Fua = 1 << 0,
    NoHole = 1 << 1,
    DontFragment = 1 << 2,
    RequestOne = 1 << 3,
    FastZero = 1 << 4,
}

internal enum NbdReplyType : ushort
{
    None = 0,
    OffsetData = 1,
    OffsetHole = 2,
    BlockStatus = 5,
    Error = (1 << 15) + 1,
    ErrorOffset = (1 << 15) + 2,
}

/// <summary>Structured reply chunk flags.</summary>
[Flags]
internal enum NbdReplyFlags : ushort
{
    None = 0,
    Done = 1 << 0,
}

/// <summary>The error values the protocol allows; errno numbers, but fixed by the spec, not the platform.</summary>
internal enum NbdError : uint
{
    None = 0,
    Perm = 1,
    IO = 5,
    NoMemory = 12,
    Invalid = 22,
    NoSpace = 28,
    Overflow = 75,
    NotSupported = 95,
    Shutdown = 108,
}

/// <summary>base:allocation status flags.</summary>
[Flags]
internal enum NbdAllocationState : uint
{
    Data = 0,
    Hole = 1 << 0,
    Zero = 1 << 1,
}
