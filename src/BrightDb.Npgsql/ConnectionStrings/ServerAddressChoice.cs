namespace BrightDb.Npgsql.ConnectionStrings;

/// <summary>Which address of each server the driver connects to (<c>Server Addresses</c>).</summary>
enum ServerAddressChoice
{
    /// <summary>The public address (<c>public_ip</c>) when an address the application was given is a server's public address, <c>host</c> otherwise.</summary>
    Auto,

    /// <summary>Always <c>public_ip</c> (<c>host</c> for a server that reports none).</summary>
    Public,

    /// <summary>Always <c>host</c>.</summary>
    Private,
}
