using System.Globalization;
using System.Net;

namespace BlobSeer.Bench.Testbed;

/// <summary>The shape of a testbed: its hosts, their links and the names it uses on this machine.</summary>
internal sealed record TestbedOptions
{
    /// <summary>The most hosts one testbed holds (addresses are one /16; the switch has one port each).</summary>
    public const int MaxHosts = 1000;

    /// <summary>The default prefix of every namespace a testbed creates; leftovers are found by it.</summary>
    public const string DefaultPrefix = "bsbench";

    /// <summary>Host names, in address order: letters and digits, at most 12 characters, unique. Default two hosts, h0 and h1.</summary>
    public IReadOnlyList<string> Hosts { get; init; } = Numbered("h", 2);

    /// <summary>Rate limit of every host's link, each way, in bits per second (tc tbf); 0 for none. Default 1 Gbit/s.</summary>
    public long RateBitsPerSecond { get; init; } = 1_000_000_000;

    /// <summary>
    /// Prefix of the namespaces: <c>PREFIX-RUN-sw</c> for the switch, <c>PREFIX-RUN-HOST</c> per host,
    /// RUN unique per testbed. Lower-case letters and digits, at most 16. Default <see cref="DefaultPrefix"/>.
    /// </summary>
    public string Prefix { get; init; } = DefaultPrefix;

    /// <summary>
    /// The /16 the hosts' addresses come from, in order from .0.1. Private addresses only: they
    /// exist inside the testbed's namespaces and nowhere else. Default 10.201.0.0.
    /// </summary>
    public IPAddress Network { get; init; } = IPAddress.Parse("10.201.0.0");

    /// <summary><paramref name="count"/> names <c>STEM0</c>, <c>STEM1</c>, …</summary>
    public static IReadOnlyList<string> Numbered(string stem, int count) =>
        [.. Enumerable.Range(0, count).Select(i => stem + i.ToString(CultureInfo.InvariantCulture))];

    /// <summary>The address of the host at <paramref name="index"/>: the network plus index + 1.</summary>
    public IPAddress AddressOf(int index)
    {
        var bytes = Network.GetAddressBytes();
        var n = index + 1;
        bytes[2] = (byte)(n >> 8);
        bytes[3] = (byte)(n & 0xFF);
        return new IPAddress(bytes);
    }

    /// <summary>Parses a rate like <c>1gbit</c>, <c>100mbit</c>, <c>500kbit</c> or bits per second (0: none), as tc writes them.</summary>
    public static bool TryParseRate(string text, out long bitsPerSecond)
    {
        text = text.Trim().ToLowerInvariant();
        var units = new (string Suffix, long Factor)[] { ("gbit", 1_000_000_000), ("mbit", 1_000_000), ("kbit", 1_000), ("bit", 1), ("", 1) };
        foreach (var (suffix, factor) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(text[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && value >= 0)
            {
                bitsPerSecond = (long)(value * factor);
                return true;
            }
        }

        bitsPerSecond = 0;
        return false;
    }

    /// <summary>Throws a usage error for a bad value.</summary>
    public void Validate()
    {
        if (Hosts.Count is < 1 or > MaxHosts)
        {
            throw BenchException.Usage($"a testbed has 1 to {MaxHosts} hosts, not {Hosts.Count}");
        }

        foreach (var host in Hosts)
        {
            if (host.Length is < 1 or > 12 || !host.All(char.IsAsciiLetterOrDigit) || host == "sw")
            {
                throw BenchException.Usage($"testbed host name '{host}': use 1 to 12 letters and digits (not 'sw')");
            }
        }

        if (Hosts.Distinct(StringComparer.Ordinal).Count() != Hosts.Count)
        {
            throw BenchException.Usage("testbed host names must be unique");
        }

        if (Prefix.Length is < 1 or > 16 || !Prefix.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)))
        {
            throw BenchException.Usage($"testbed prefix '{Prefix}': use 1 to 16 lower-case letters and digits");
        }

        if (RateBitsPerSecond < 0)
        {
            throw BenchException.Usage("the testbed's rate limit cannot be negative (0: none)");
        }

        var b = Network.GetAddressBytes();
        var isPrivate = b.Length == 4 && (b[0] == 10 || (b[0] == 172 && b[1] is >= 16 and <= 31) || (b[0] == 192 && b[1] == 168));
        if (!isPrivate || b[2] != 0 || b[3] != 0)
        {
            throw BenchException.Usage($"the testbed's network {Network} must be a private IPv4 /16 (like 10.201.0.0)");
        }
    }
}
