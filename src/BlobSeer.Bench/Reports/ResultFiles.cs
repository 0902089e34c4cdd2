using System.Globalization;
using System.Text;

namespace BlobSeer.Bench.Reports;

/// <summary>
/// The files a scenario leaves in its results directory: <c>NAME.json</c> (what <c>--json</c>
/// prints), <c>NAME.csv</c> (one row per measurement) and <c>NAME.svg</c> (a plot).
/// </summary>
internal static class ResultFiles
{
    /// <summary>The default results directory, relative to the current directory.</summary>
    public const string DefaultDirectory = "bench-results";

    /// <summary>Creates <paramref name="directory"/> (default <see cref="DefaultDirectory"/>) and returns its full path.</summary>
    public static string Prepare(string? directory)
    {
        var path = Path.GetFullPath(string.IsNullOrEmpty(directory) ? DefaultDirectory : directory);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Writes <c>NAME.json</c> and returns its path.</summary>
    public static string WriteJson(string directory, string name, string json) =>
        WriteText(Path.Combine(directory, name + ".json"), json.EndsWith('\n') ? json : json + "\n");

    /// <summary>
    /// Writes <c>NAME.csv</c> (RFC 4180: a header line, comma-separated, fields quoted when they
    /// hold a comma, quote or line break; numbers in the invariant culture) and returns its path.
    /// </summary>
    public static string WriteCsv(string directory, string name, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<object?>> rows)
    {
        var text = new StringBuilder();
        AppendRow(text, header);
        foreach (var row in rows)
        {
            if (row.Count != header.Count)
            {
                throw new ArgumentException($"a row of {name}.csv has {row.Count} fields, the header {header.Count}", nameof(rows));
            }

            AppendRow(text, row);
        }

        return WriteText(Path.Combine(directory, name + ".csv"), text.ToString());
    }

    /// <summary>Writes <c>NAME.svg</c>, a line plot of <paramref name="plot"/>, and returns its path.</summary>
    public static string WriteSvg(string directory, string name, PlotSpec plot) =>
        WriteText(Path.Combine(directory, name + ".svg"), SvgPlot.Render(plot));

    /// <summary>One CSV field: invariant numbers, ISO dates, quoted text where needed, empty for null.</summary>
    public static string Field(object? value) => value switch
    {
        null => "",
        double d => double.IsFinite(d) ? d.ToString("0.######", CultureInfo.InvariantCulture) : "",
        float f => float.IsFinite(f) ? f.ToString("0.######", CultureInfo.InvariantCulture) : "",
        bool b => b ? "true" : "false",
        DateTimeOffset t => t.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Quote(value.ToString() ?? ""),
    };

    private static void AppendRow<T>(StringBuilder text, IReadOnlyList<T> row)
    {
        for (var i = 0; i < row.Count; i++)
        {
            if (i > 0)
            {
                text.Append(',');
            }

            text.Append(row[i] is string s ? Quote(s) : Field(row[i]));
        }

        text.Append("\r\n");
    }

    private static string Quote(string s) =>
        s.AsSpan().IndexOfAny(",\"\r\n") < 0 ? s : "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string WriteText(string path, string text)
    {
        // Write then rename, so that a reader never sees half a file.
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, text, new UTF8Encoding(false));
        File.Move(temporary, path, overwrite: true);
        return path;
    }
}
