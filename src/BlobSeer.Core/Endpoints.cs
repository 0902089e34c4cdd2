namespace BlobSeer.Core;

/// <summary>Parsing of <c>host:port</c> addresses.</summary>
public static class Endpoints
{
    /// <summary>Splits <c>host:port</c> (IPv6 hosts in brackets); InvalidArgument naming <paramref name="what"/> if malformed.</summary>
    public static (string Host, int Port) Parse(string endpoint, string what)
    {
        var colon = endpoint.LastIndexOf(':');
        var port = -1;
        if (colon <= 0 || !int.TryParse(endpoint.AsSpan(colon + 1), out port) || port is < 0 or > 65535)
        {
            Throw.InvalidArgument($"{what}: '{endpoint}' is not host:port");
        }

        return (endpoint[..colon].Trim('[', ']'), port);
    }
}
