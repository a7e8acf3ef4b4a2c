using System.Runtime.InteropServices;

namespace BrightDb.LocalCluster.Internal;

/// <summary>The few libc calls .NET has no API for: signals other than SIGKILL, ownership, System V shared memory.</summary>
static partial class Native
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGINT = 2;
    public const int SIGQUIT = 3;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;
    const int IPC_RMID = 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserIdNative();

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ChownNative(string path, int owner, int group);

    [LibraryImport("libc", EntryPoint = "shmctl", SetLastError = true)]
    private static partial int ShmctlNative(int shmid, int command, IntPtr buffer);

    public static bool IsRoot => GetEffectiveUserIdNative() == 0;

    /// <summary>Sends a signal; returns false when the process no longer exists.</summary>
    public static bool Signal(int pid, int signal) => pid > 0 && KillNative(pid, signal) == 0;

    public static void Chown(string path, int uid, int gid)
    {
        if (ChownNative(path, uid, gid) != 0)
        {
            throw new LocalClusterException($"chown {uid}:{gid} '{path}' failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    /// <summary>Removes a System V shared memory segment left by a killed postmaster (best effort).</summary>
    public static void RemoveSharedMemory(int shmid) => _ = ShmctlNative(shmid, IPC_RMID, IntPtr.Zero);
}
