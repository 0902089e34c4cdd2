using System.Globalization;
using System.Runtime.InteropServices;
using BlobSeer.Core;
using BlobSeer.Fuse.Internal;

namespace BlobSeer.Fuse;

/// <summary>The libfuse side of a mount: creating it, running its loop, freeing it.</summary>
public sealed unsafe partial class FuseMount
{
    private const string DevicePath = "/dev/fuse";
    private const string MaxPagesLimitPath = "/proc/sys/fs/fuse/max_pages_limit";

    /// <summary>Pages per request on kernels without the sysctl: 256 since Linux 4.20.</summary>
    private const int DefaultMaxPagesLimit = 256;

    private GCHandle _stateHandle;
    private FuseOperations* _operations;
    private nint _fuse;

    private static void CheckKernelSupport(string path, FuseMountOptions options)
    {
        if (!File.Exists(DevicePath))
        {
            Throw.Error(ErrorCode.FailedPrecondition,
                $"Cannot mount FUSE at '{path}': {DevicePath} does not exist. Load the fuse kernel module (modprobe fuse), " +
                "or in a container pass the device (--device /dev/fuse --cap-add SYS_ADMIN).");
        }
        int limit = DefaultMaxPagesLimit;
        if (File.Exists(MaxPagesLimitPath) && int.TryParse(File.ReadAllText(MaxPagesLimitPath).Trim(), CultureInfo.InvariantCulture, out int configured))
            limit = configured;
        int pages = options.MaxReadWrite / Environment.SystemPageSize;
        if (pages > limit)
        {
            Throw.Error(ErrorCode.FailedPrecondition,
                $"Cannot mount FUSE at '{path}' with {nameof(FuseMountOptions.MaxReadWrite)} {options.MaxReadWrite}: the kernel allows " +
                $"{limit} pages per request ({MaxPagesLimitPath}); raise that sysctl or lower the option.");
        }
    }

    private void CreateAndMount(FuseMountOptions options)
    {
        _stateHandle = GCHandle.Alloc(_state);
        // libfuse copies the table in fuse_new; it lives as long as the mount anyway, so that no
        // libfuse version can ever read freed memory.
        _operations = (FuseOperations*)NativeMemory.AllocZeroed((nuint)sizeof(FuseOperations));
        FuseCallbacks.Fill(_operations);

        string mountOptions = MountOptions(options);
        byte*[] argv = [Utf8("blobseer"), Utf8("-o"), Utf8(mountOptions), null];
        try
        {
            fixed (byte** pointers = argv)
            {
                var args = new FuseArgs { Argc = 3, Argv = pointers, Allocated = 0 };
                _fuse = LibFuse.fuse_new(&args, _operations, (nuint)sizeof(FuseOperations), GCHandle.ToIntPtr(_stateHandle));
                // Option parsing may have replaced argv with copies that libfuse allocated.
                LibFuse.fuse_opt_free_args(&args);
            }
        }
        finally
        {
            foreach (byte* p in argv)
                NativeMemory.Free(p);
        }
        if (_fuse == 0)
            Throw.InvalidArgument($"libfuse rejected the options for the mount at '{MountPoint}': -o {mountOptions} (its message is on stderr).");

        byte* mountPoint = Utf8(MountPoint);
        try
        {
            if (LibFuse.fuse_mount(_fuse, mountPoint) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                Throw.Error(errno is Errno.EPERM or Errno.EACCES ? ErrorCode.PermissionDenied : ErrorCode.FailedPrecondition,
                    $"Cannot mount FUSE at '{MountPoint}': the kernel refused (last error: {LibC.ErrorMessage(errno)}). " +
                    "Mounting needs root or the setuid fusermount3, read-write access to /dev/fuse" +
                    (options.AllowOther ? ", and user_allow_other in /etc/fuse.conf for AllowOther." : "."));
            }
        }
        finally
        {
            NativeMemory.Free(mountPoint);
        }
    }

    private void ApplyReadAhead()
    {
        // A stat of the root waits for INIT: the kernel sets the window from INIT's reply (the
        // smaller of ours and its own 128 KiB), so only a later write sticks.
        int errno = LibC.Stat(MountPoint, out _);
        int readAhead = _state.Options.ReadAhead;
        if (errno != 0 || readAhead == 0 || MountPoints.DeviceOf(MountPoint) is not { } device)
            return;
        try
        {
            File.WriteAllText($"/sys/class/bdi/{device}/read_ahead_kb", (readAhead / 1024).ToString(CultureInfo.InvariantCulture));
            AppliedReadAhead = readAhead;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not root, or sysfs read-only in a container: the mount works, with smaller reads.
        }
    }

    private static string MountOptions(FuseMountOptions options)
    {
        string result = string.Create(CultureInfo.InvariantCulture,
            $"fsname={options.FsName},subtype={options.Subtype},max_read={options.MaxReadWrite}");
        if (options.AllowOther)
            result += ",allow_other";
        if (options.DefaultPermissions)
            result += ",default_permissions";
        return result;
    }

    private void RunLoop()
    {
        int result = 0;
        Exception? failure = null;
        try
        {
            nint config = LibFuse.fuse_loop_cfg_create();
            if (config == 0)
                Throw.Error(ErrorCode.ResourceExhausted, "libfuse could not allocate its loop configuration.");
            try
            {
                LibFuse.fuse_loop_cfg_set_max_threads(config, (uint)_state.Options.MaxThreads);
                // The config starts at -1 (never reap idle workers), which the setter itself refuses.
                if (_state.Options.MaxIdleThreads >= 0)
                    LibFuse.fuse_loop_cfg_set_idle_threads(config, (uint)_state.Options.MaxIdleThreads);
                result = LibFuse.fuse_loop_mt(_fuse, config);
            }
            finally
            {
                LibFuse.fuse_loop_cfg_destroy(config);
            }
        }
        catch (Exception e)
        {
            failure = e;
        }
        finally
        {
            // The kernel has usually dropped the mount already (that is what ended the loop), and
            // then fuse_unmount only closes /dev/fuse; after a failure it also unmounts.
            LibFuse.fuse_unmount(_fuse);
            LibFuse.fuse_destroy(_fuse);
            _fuse = 0;
            FreeNative();
        }

        if (failure is not null)
            _completion.SetException(failure);
        else if (result != 0)
            _completion.SetException(new BlobSeerException(ErrorCode.Internal,
                $"The FUSE loop for '{MountPoint}' ended with {(result < 0 ? LibC.ErrorMessage(-result) : $"error {result}")}."));
        else
            _completion.SetResult();
    }

    private void FreeNative()
    {
        if (_fuse != 0)
        {
            LibFuse.fuse_destroy(_fuse);
            _fuse = 0;
        }
        NativeMemory.Free(_operations);
        _operations = null;
        if (_stateHandle.IsAllocated)
            _stateHandle.Free();
    }

    private static byte* Utf8(string value)
    {
        int length = System.Text.Encoding.UTF8.GetByteCount(value);
        byte* result = (byte*)NativeMemory.Alloc((nuint)length + 1);
        System.Text.Encoding.UTF8.GetBytes(value, new Span<byte>(result, length));
        result[length] = 0;
        return result;
    }
}
