namespace BlobSeer.Bench;

/// <summary>Progress lines on stderr, so that stdout carries only the table or the JSON.</summary>
internal static class Progress
{
    public static void Line(string message) => Console.Error.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] {message}");
}
