using BlobSeer.Core;
using Spectre.Console;

namespace BlobSeer.Cli.Output;

/// <summary>The human forms of <c>blob info</c>, <c>versions</c> and <c>list</c>.</summary>
internal static class Tables
{
    public static void Blobs(IReadOnlyList<BlobJson> blobs)
    {
        if (blobs.Count == 0)
        {
            Terminal.Stdout.WriteLine("no blobs");
            return;
        }

        var table = new Table().Border(TableBorder.Simple)
            .AddColumns("id", "name", "latest", "size", "page size", "repl.", "dedup", "parent", "created");
        table.Columns[0].RightAligned();
        table.Columns[2].RightAligned();
        table.Columns[3].RightAligned();
        foreach (var b in blobs)
        {
            table.AddRow(Cells(b.Id.ToString(), b.Name ?? "-", b.LatestVersion.ToString(), ByteSizes.Format(b.Size), ByteSizes.Format(b.PageSize),
                b.Replication.ToString(), b.Dedup ? "yes" : "-", Parent(b), Time(b.Created)));
        }

        Terminal.Stdout.Write(table);
    }

    public static void Info(BlobJson b)
    {
        var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
        void Row(string key, string value) => grid.AddRow(new Text(key, new Style(decoration: Decoration.Bold)), new Text(value));
        Row("id", b.Id.ToString());
        Row("name", b.Name ?? "-");
        Row("page size", $"{ByteSizes.Format(b.PageSize)} ({b.PageSize} bytes)");
        Row("replication", b.Replication.ToString());
        Row("latest version", b.LatestVersion.ToString());
        Row("size", $"{ByteSizes.Format(b.Size)} ({b.Size} bytes)");
        Row("parent", Parent(b));
        Row("created", Time(b.Created));
        Row("retention", b.Retention is { } r ? Retention(r) : "none (every version kept)");
        Row("dedup", b.Dedup ? "yes (content-addressed pages: identical pages stored once)" : "no");
        if (b.Version is { } v)
        {
            Row("version", v.Version.ToString());
            Row("  size", $"{ByteSizes.Format(v.Size)} ({v.Size} bytes)");
            Row("  published", v.Published ? "yes" : "no (in flight)");
            Row("  created", Time(v.Created));
            Row("  wrote", Wrote(v, "nothing (writer gave up; reads as the previous version)", 8));
            if (v.Labels.Count > 0)
            {
                Row("  labels", string.Join(", ", v.Labels));
            }
            if (v.Expired)
            {
                Row("  expired", "yes: its writer's lease ran out and the version manager completed it");
            }
        }

        Terminal.Stdout.Write(grid);
    }

    // What a version did: its ranges, after the size it set when it resized the blob.
    private static string Wrote(VersionJson v, string noop, int maxRanges)
    {
        var ranges = v.Noop ? noop : Ranges(v.Ranges, maxRanges);
        return v.Resizes ? $"size set to {ByteSizes.Format(v.Size)}{(v.Ranges.Count == 0 && !v.Noop ? "" : "; " + ranges)}" : ranges;
    }

    public static void Versions(IReadOnlyList<VersionJson> versions)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumns("version", "size", "published", "created", "wrote", "labels");
        table.Columns[0].RightAligned();
        table.Columns[1].RightAligned();
        foreach (var v in versions)
        {
            table.AddRow(Cells(v.Version.ToString(), ByteSizes.Format(v.Size), v.Published ? "yes" : "no", Time(v.Created), Wrote(v, "nothing (given up)", 3),
                v.Labels.Count == 0 ? "-" : string.Join(", ", v.Labels)));
        }

        Terminal.Stdout.Write(table);
    }

    private static string Retention(RetentionJson r) => "keep " + string.Join(", ",
        new[] { r.KeepLast is { } n ? $"last {n}" : null, r.KeepYoungerThan is { } a ? $"younger than {a}" : null, r.KeepTagged ? "tagged" : null }
            .Where(s => s is not null));

    private static string Parent(BlobJson b) => b.ParentBlob is { } p ? $"blob {p} version {b.ParentVersion}" : "-";

    private static string Time(DateTimeOffset t) => t.ToString("yyyy-MM-dd HH:mm:ss'Z'");

    private static string Ranges(IReadOnlyList<RangeJson> ranges, int max)
    {
        if (ranges.Count == 0)
        {
            return "-";
        }

        var shown = string.Join(", ", ranges.Take(max).Select(r => $"{ByteSizes.Format(r.Length)} at {r.Offset}"));
        return ranges.Count > max ? $"{shown}, … ({ranges.Count - max} more)" : shown;
    }

    // Cells are plain text: a blob name like "a[b]" must not be read as Spectre markup.
    private static Text[] Cells(params string[] values) => values.Select(v => new Text(v)).ToArray();
}
