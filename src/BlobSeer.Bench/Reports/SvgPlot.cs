using System.Globalization;
using System.Net;
using System.Text;

namespace BlobSeer.Bench.Reports;

/// <summary>One point of a plotted series.</summary>
internal readonly record struct PlotPoint(double X, double Y);

/// <summary>A named line of a plot; points are drawn in X order.</summary>
internal sealed record PlotSeries(string Name, IReadOnlyList<PlotPoint> Points)
{
    /// <summary>Draw the line dashed (baselines, models).</summary>
    public bool Dashed { get; init; }
}

/// <summary>What a plot shows.</summary>
internal sealed record PlotSpec(string Title, string XLabel, string YLabel, IReadOnlyList<PlotSeries> Series)
{
    /// <summary>A logarithmic X axis (powers of the base as ticks).</summary>
    public bool LogX { get; init; }

    /// <summary>A logarithmic Y axis.</summary>
    public bool LogY { get; init; }

    /// <summary>Base of the logarithmic axes: 2 for node counts, 10 for depths. Default 10.</summary>
    public double LogBase { get; init; } = 10;

    /// <summary>A line under the title (what was measured where).</summary>
    public string? Subtitle { get; init; }
}

/// <summary>
/// A small, dependency-free SVG line plot: axes with round ticks (linear or logarithmic), one
/// coloured line with markers per series, a legend. Enough for a benchmark's figure, readable in
/// a browser and in a Markdown preview.
/// </summary>
internal static class SvgPlot
{
    private const double Width = 800;
    private const double Height = 440;
    private const double Left = 78;
    private const double Right = 260;
    private const double Top = 58;
    private const double Bottom = 58;

    private static readonly string[] Colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"];

    /// <summary>The whole SVG document.</summary>
    public static string Render(PlotSpec plot)
    {
        var points = plot.Series.SelectMany(s => s.Points)
            .Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y) && (!plot.LogX || p.X > 0) && (!plot.LogY || p.Y > 0))
            .ToList();
        var (x0, x1) = Range(points.Select(p => p.X), plot.LogX, zeroBased: false);
        var (y0, y1) = Range(points.Select(p => p.Y), plot.LogY, zeroBased: true);
        var xTicks = Ticks(x0, x1, plot.LogX, plot.LogBase);
        var yTicks = Ticks(y0, y1, plot.LogY, plot.LogBase);
        (x0, x1) = (Math.Min(x0, xTicks[0]), Math.Max(x1, xTicks[^1]));
        (y0, y1) = (Math.Min(y0, yTicks[0]), Math.Max(y1, yTicks[^1]));

        double Sx(double x) => Left + ((Scale(x, plot.LogX) - Scale(x0, plot.LogX)) / Span(x0, x1, plot.LogX) * (Width - Left - Right));
        double Sy(double y) => Height - Bottom - ((Scale(y, plot.LogY) - Scale(y0, plot.LogY)) / Span(y0, y1, plot.LogY) * (Height - Top - Bottom));

        var svg = new StringBuilder();
        svg.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append(Inv($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n"));
        svg.Append(Inv($"<text x=\"{Width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{Escape(plot.Title)}</text>\n"));
        if (plot.Subtitle is { } subtitle)
        {
            svg.Append(Inv($"<text x=\"{Width / 2}\" y=\"40\" text-anchor=\"middle\" fill=\"#555\">{Escape(subtitle)}</text>\n"));
        }

        // Grid and ticks.
        foreach (var t in xTicks)
        {
            var x = Sx(t);
            svg.Append(Inv($"<line x1=\"{x:0.#}\" y1=\"{Top}\" x2=\"{x:0.#}\" y2=\"{Height - Bottom}\" stroke=\"#e5e5e5\"/>\n"));
            svg.Append(Inv($"<text x=\"{x:0.#}\" y=\"{Height - Bottom + 16}\" text-anchor=\"middle\">{Label(t)}</text>\n"));
        }

        foreach (var t in yTicks)
        {
            var y = Sy(t);
            svg.Append(Inv($"<line x1=\"{Left}\" y1=\"{y:0.#}\" x2=\"{Width - Right}\" y2=\"{y:0.#}\" stroke=\"#e5e5e5\"/>\n"));
            svg.Append(Inv($"<text x=\"{Left - 6}\" y=\"{y + 4:0.#}\" text-anchor=\"end\">{Label(t)}</text>\n"));
        }

        svg.Append(Inv($"<rect x=\"{Left}\" y=\"{Top}\" width=\"{Width - Left - Right}\" height=\"{Height - Top - Bottom}\" fill=\"none\" stroke=\"#333\"/>\n"));
        svg.Append(Inv($"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 14}\" text-anchor=\"middle\">{Escape(plot.XLabel)}</text>\n"));
        svg.Append(Inv($"<text transform=\"translate(18 {(Top + Height - Bottom) / 2}) rotate(-90)\" text-anchor=\"middle\">{Escape(plot.YLabel)}</text>\n"));

        // Series and legend.
        for (var i = 0; i < plot.Series.Count; i++)
        {
            var series = plot.Series[i];
            var colour = Colours[i % Colours.Length];
            var drawn = series.Points
                .Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y) && (!plot.LogX || p.X > 0) && (!plot.LogY || p.Y > 0))
                .OrderBy(p => p.X).ToList();
            var dash = series.Dashed ? " stroke-dasharray=\"6 4\"" : "";
            if (drawn.Count > 1)
            {
                var path = string.Join(' ', drawn.Select(p => Inv($"{Sx(p.X):0.#},{Sy(p.Y):0.#}")));
                svg.Append(Inv($"<polyline points=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\n"));
            }

            foreach (var p in drawn)
            {
                svg.Append(Inv($"<circle cx=\"{Sx(p.X):0.#}\" cy=\"{Sy(p.Y):0.#}\" r=\"3.5\" fill=\"{colour}\"><title>{Escape(series.Name)}: {Label(p.X)}, {Label(p.Y)}</title></circle>\n"));
            }

            var ly = Top + 8 + (i * 20);
            var lx = Width - Right + 14;
            svg.Append(Inv($"<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{lx + 22}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\n"));
            svg.Append(Inv($"<text x=\"{lx + 28}\" y=\"{ly + 4}\">{Escape(series.Name)}</text>\n"));
        }

        return svg.Append("</svg>\n").ToString();
    }

    private static double Scale(double v, bool log) => log ? Math.Log(v) : v;

    private static double Span(double a, double b, bool log)
    {
        var span = Scale(b, log) - Scale(a, log);
        return span > 0 ? span : 1;
    }

    private static (double Min, double Max) Range(IEnumerable<double> values, bool log, bool zeroBased)
    {
        var list = values.ToList();
        if (list.Count == 0)
        {
            return log ? (1, 10) : (0, 1);
        }

        var (min, max) = (list.Min(), list.Max());
        if (!log && zeroBased)
        {
            min = Math.Min(0, min);
        }

        if (max <= min)
        {
            (min, max) = log ? (min / 2, max * 2) : (min - 1, max + 1);
        }

        return (min, max);
    }

    /// <summary>Round ticks covering [min, max]: 1-2-5 steps, or powers of the base on a log axis.</summary>
    internal static IReadOnlyList<double> Ticks(double min, double max, bool log, double logBase)
    {
        if (log)
        {
            var first = Math.Floor(Math.Log(min, logBase) + 1e-9);
            var last = Math.Ceiling(Math.Log(max, logBase) - 1e-9);
            var stride = Math.Max(1, Math.Ceiling((last - first) / 10));
            var ticks = new List<double>();
            for (var e = first; e <= last + 1e-9; e += stride)
            {
                ticks.Add(Math.Pow(logBase, e));
            }

            return ticks.Count >= 2 ? ticks : [Math.Pow(logBase, first), Math.Pow(logBase, first + 1)];
        }

        var raw = (max - min) / 6;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var step = new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * magnitude).First(s => s >= raw);
        var start = Math.Floor(min / step) * step;
        var result = new List<double>();
        for (var t = start; t <= max + (step * 0.999); t += step)
        {
            result.Add(Math.Round(t / step) * step);
        }

        return result;
    }

    private static string Label(double v)
    {
        var a = Math.Abs(v);
        return a switch
        {
            0 => "0",
            >= 1e6 => (v / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M",
            >= 1e4 => (v / 1e3).ToString("0.##", CultureInfo.InvariantCulture) + "k",
            >= 100 => v.ToString("0", CultureInfo.InvariantCulture),
            >= 1 => v.ToString("0.##", CultureInfo.InvariantCulture),
            _ => v.ToString("0.###", CultureInfo.InvariantCulture),
        };
    }

    private static string Escape(string s) => WebUtility.HtmlEncode(s);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
