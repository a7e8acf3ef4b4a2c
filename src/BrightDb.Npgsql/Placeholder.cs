namespace BrightDb.Npgsql; internal static class Placeholder { }
