#!/bin/sh
# PID 1 inside user-mode Linux (conformance/runtimes.py). The root file system is the
# host's, read-only (hostfs). DUALSTACK_JOB (a kernel parameter, so in our environment)
# names the job file the host wrote: the command, its folder and environment, and the
# host folders to mount writable at their own paths. The command's exit status goes
# to "$status_dir/status"; then the kernel powers off, which ends the linux.uml process.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
. "$DUALSTACK_JOB"  # the job file lives in the host's temp folder

power_off() {  # PID 1 must not exit (the kernel would panic): wait for the power-off
    echo o > /proc/sysrq-trigger
    exec sleep infinity
}

fail() {
    echo "uml-init: $*" >&2
    power_off
}

mount -t proc proc /proc && mount -t sysfs sys /sys || fail "cannot mount /proc, /sys"
mountpoint -q /dev || mount -t devtmpfs dev /dev
# writable places the suite's own scratch needs; the host's files stay read-only
mkdir -p /dev/shm  # multiprocessing's semaphores (hypercorn) live there
# (not over /tmp: a checkout or virtualenv under the host's /tmp must stay visible; the
# temporary folder inside is /run/tmp, runtimes.toml)
mount -t tmpfs run /run && mkdir -p /run/tmp && mount -t tmpfs shm /dev/shm || fail "cannot mount tmpfs"
for module in $modules; do
    insmod "/usr/lib/uml/modules/$(uname -r)/kernel/$module" || fail "insmod $module failed"
done
ip link set lo up || fail "cannot bring lo up"
for folder in "$writable" "$status_dir"; do
    mkdir -p "$folder" && mount -t hostfs host "$folder" -o "$folder" || fail "cannot mount $folder"
done
cd "$cwd" || fail "no folder $cwd"
job_environment
"$@"
echo $? > "$status_dir/status"
power_off
