using CorePolicy = BlobSeer.Core.Versions.RetentionPolicy;
using WirePolicy = BlobSeer.Protocol.Messages.RetentionPolicy;

namespace BlobSeer.Protocol;

/// <summary>Retention policies between Core and the wire, validated on the way in.</summary>
public static class RetentionConvert
{
    private const long MaxAgeMs = 1000L * 366 * 86_400_000;

    /// <summary>Core policy to wire policy (null stays null: no policy).</summary>
    public static WirePolicy? ToWire(this CorePolicy? policy)
    {
        if (policy is null)
        {
            return null;
        }

        var wire = new WirePolicy { KeepTagged = policy.KeepTagged };
        if (policy.KeepLast is { } n)
        {
            wire.KeepLast = (uint)Math.Max(n, 0);
        }

        if (policy.KeepYoungerThan is { } age)
        {
            wire.KeepYoungerThanMs = (long)age.TotalMilliseconds;
        }

        return wire;
    }

    /// <summary>Wire policy to Core policy (null stays null); InvalidArgument for a policy that could delete the latest version.</summary>
    public static CorePolicy? ToCore(this WirePolicy? policy)
    {
        if (policy is null)
        {
            return null;
        }

        if (policy.HasKeepLast && policy.KeepLast > int.MaxValue)
        {
            Core.Throw.InvalidArgument($"retention keep_last {policy.KeepLast} is more than {int.MaxValue}");
        }

        if (policy.HasKeepYoungerThanMs && policy.KeepYoungerThanMs > MaxAgeMs)
        {
            Core.Throw.InvalidArgument($"retention keep_younger_than of {policy.KeepYoungerThanMs} ms is more than 1000 years");
        }

        var core = new CorePolicy(
            policy.HasKeepLast ? (int)policy.KeepLast : null,
            policy.HasKeepYoungerThanMs ? TimeSpan.FromMilliseconds(policy.KeepYoungerThanMs) : null,
            policy.KeepTagged);
        core.Validate();
        return core;
    }
}
