using System.Runtime.CompilerServices;
using BlobSeer.Fuse.Internal;

namespace BlobSeer.Fuse.Tests;

/// <summary>The sizes and bit positions that libfuse 3.14 on x86_64 compiles to (checked against the headers with offsetof).</summary>
public sealed class NativeLayoutTests
{
    [Fact]
    public void Native_structs_have_the_x86_64_sizes()
    {
        Unsafe.SizeOf<FuseFileStat>().ShouldBe(144);
        Unsafe.SizeOf<FuseFileSystemStat>().ShouldBe(112);
        Unsafe.SizeOf<FuseFileInfo>().ShouldBe(40);
        Unsafe.SizeOf<FuseConfig>().ShouldBe(128);
        Unsafe.SizeOf<FuseConnInfo>().ShouldBe(128);
        Unsafe.SizeOf<FuseOperations>().ShouldBe(336);
    }

    [Fact]
    public void File_info_bits_sit_where_gcc_puts_the_bitfields()
    {
        var info = new FuseFileInfo { DirectIo = true };
        Unsafe.As<FuseFileInfo, uint>(ref Unsafe.AddByteOffset(ref info, 4)).ShouldBe(0x2u);
        info = new FuseFileInfo { KeepCache = true, NoFlush = true, FileHandle = 7 };
        Unsafe.As<FuseFileInfo, uint>(ref Unsafe.AddByteOffset(ref info, 4)).ShouldBe(0x84u);
        Unsafe.As<FuseFileInfo, ulong>(ref Unsafe.AddByteOffset(ref info, 16)).ShouldBe(7ul);
    }

    [Fact]
    public void Stat_times_round_trip_through_timespec()
    {
        var time = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero).AddTicks(1234567);
        var stat = new FuseFileStat();
        stat.SetTimes(time);
        stat.ModificationTime.ShouldBe(time);
        stat.SetRegularFile(1000, 0b110_100_100);
        (stat.IsRegularFile, stat.Blocks, stat.Mode & 0xFFF).ShouldBe((true, 2L, 0b110_100_100u));
    }
}
