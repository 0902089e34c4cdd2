using BlobSeer.Core;

namespace BlobSeer.Fuse.Tests;

public sealed class FuseMountOptionsTests
{
    [Fact]
    public void The_defaults_are_valid() => new FuseMountOptions().Validate();

    [Theory]
    [InlineData(nameof(FuseMountOptions.MaxReadWrite))]
    [InlineData(nameof(FuseMountOptions.MaxThreads))]
    [InlineData(nameof(FuseMountOptions.FsName))]
    [InlineData(nameof(FuseMountOptions.ReadAhead))]
    public void An_invalid_option_is_rejected_by_name(string option)
    {
        var options = new FuseMountOptions();
        switch (option)
        {
            case nameof(FuseMountOptions.MaxReadWrite): options.MaxReadWrite = 3 << 20; break;
            case nameof(FuseMountOptions.MaxThreads): options.MaxThreads = 0; break;
            case nameof(FuseMountOptions.FsName): options.FsName = "a,allow_other"; break;
            case nameof(FuseMountOptions.ReadAhead): options.ReadAhead = 1000; break;
        }

        var error = Should.Throw<BlobSeerException>(options.Validate);
        error.Code.ShouldBe(ErrorCode.InvalidArgument);
        error.Message.ShouldContain(option);
    }
}
