using Aspire.Hosting.Docker.Resources.ComposeNodes;
using Aspire.Hosting.Docker.Resources.ServiceNodes;

namespace TeeAspire.AppHost;

/// <summary>
/// What the attestation container needs on the TDX VM, and nothing more (compose has no
/// "privileged" here, and we would not use it): the vTPM through the kernel's resource manager,
/// configfs-tsm for a direct TDX quote where the platform offers one, the kernel log, and the
/// measured launch's event log (read-only).
/// </summary>
internal static class AttestationContainer
{
    public static void GrantTeeAccess(Service service)
    {
        service.Restart = "unless-stopped";
        service.Devices.Add("/dev/tpmrm0:/dev/tpmrm0");
        // Name is required (NamedComposeMember) and [YamlIgnore]d: it never reaches the compose file. Aspire
        // names its own bind mounts the same way (DockerComposeEnvironmentContext.ProcessVolumes); mounts
        // added here stay under this service, and the top-level `volumes:` is built without bind mounts.
        service.Volumes.Add(new Volume
        {
            Name = "tee-configfs",
            Type = "bind",
            Source = "/sys/kernel/config",
            Target = "/sys/kernel/config",
            ReadOnly = false,
        });
        // The measured launch's event log (deploy/launch/measured-launch.sh), read-only: the service
        // serves it with every report (Attestation:AppEventLog).
        service.Volumes.Add(new Volume
        {
            Name = "tee-app-event-log",
            Type = "bind",
            Source = "/run/tee-aspire",
            Target = "/run/tee-aspire",
            ReadOnly = true,
        });
        // /dev/tpmrm0 is root:tss 0660 on Ubuntu and its numeric gid differs between images, so the
        // process runs as root inside the container, with every capability dropped but CAP_SYSLOG
        // (dmesg under kernel.dmesg_restrict=1).
        service.User = "root";
        service.CapDrop.Add("ALL");
        service.CapAdd.Add("SYSLOG");
    }
}
