using System.CommandLine;
using System.Globalization;

namespace BlobSeer.Cli.Commands;

/// <summary>An option holding a comma-separated list of counts (clients, providers, instances), sorted and without repeats.</summary>
internal static class CountList
{
    public static Option<int[]> Option(string name, string description, int[] defaults, int max) => new(name)
    {
        Description = description,
        HelpName = "n,n,...",
        DefaultValueFactory = _ => defaults,
        CustomParser = r =>
        {
            var list = new List<int>();
            foreach (var part in string.Join(',', r.Tokens.Select(t => t.Value)).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > max)
                {
                    r.AddError($"{name}: '{part}' is not a count from 1 to {max}");
                    return [];
                }

                list.Add(n);
            }

            return [.. list.Order().Distinct()];
        },
    };
}
