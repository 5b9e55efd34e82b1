#!/usr/bin/env bash
# Real Slurm test clusters on this machine (Debian 12, Slurm 22.05 from Debian).
#
# Installs Slurm if missing and starts, idempotently:
#   munged, slurmdbd (MariaDB database aif_slurm_acct, port 16819, shared by all clusters),
#   cluster "lumi"     : node lumi-n1, gres gpu:mi250x:8, ctld 16817, slurmd 16818, partitions as LUMI-G's:
#                        standard-g (default; whole nodes, OverSubscribe=EXCLUSIVE, 2 days), small-g (3 days),
#                        dev-g (3 hours), all on the one node
#   cluster "leonardo" : node leonardo-n1, partition boost_usr_prod, gres gpu:a100:4, ctld 16827, slurmd 16828,
#                        with Leonardo's QoS boost_qos_dbg (2 nodes, 30 min), boost_qos_bprod, boost_qos_lprod
#                        granted at the cluster's root association (every account below inherits them)
#   slurmrestd for leonardo on 127.0.0.1:16820 (rest_auth/jwt)
#   sshd on 127.0.0.1:16822 (key-only, its own config and keys under $BASE/ssh): the clusters' "login node"
# GPUs are fake: device files /dev/aiffake-lumi-gpu[0-7] and /dev/aiffake-leo-gpu[0-3].
# Everything lives under BASE=${AIF_SLURM_TEST_DIR:-/var/lib/aif-slurm-test}; at the end of "start" the script
# writes $BASE/clusters.env (shell variables) and $BASE/clusters.json describing the clusters.
#
# Usage:
#   slurm-test-cluster.sh start                 install if missing, start what is not running, wait until usable
#   slurm-test-cluster.sh stop                  stop slurmrestd, all slurmctlds, all slurmds, slurmdbd
#   slurm-test-cluster.sh stop-ctld <cluster>   stop only that cluster's slurmctld (a site that does not answer)
#   slurm-test-cluster.sh start-ctld <cluster>  start it again and wait until "scontrol ping" answers UP
#   slurm-test-cluster.sh status                print what runs (exit 0 if everything runs, 1 otherwise)
#
# There is no /etc/slurm/slurm.conf: every client needs SLURM_CONF=$BASE/<cluster>/slurm.conf (sbatch, squeue,
# scontrol, sinfo, and also sacct/sacctmgr, which reach the shared slurmdbd through any cluster's conf; select the
# cluster there with "sacct -M <cluster>" / "sacctmgr ... cluster=<cluster>").
#
# Exit codes: 0 ok, 1 failure (with the tail of the relevant log), 2 usage, 3 needs root (tests skip on 3).

set -euo pipefail

BASE=${AIF_SLURM_TEST_DIR:-/var/lib/aif-slurm-test}
CLUSTERS=(lumi leonardo)
DBD_PORT=16819
REST_PORT=16820
REST_CLUSTER=leonardo
DB_NAME=aif_slurm_acct
DB_USER=aif_slurm
declare -A CTLD_PORT=([lumi]=16817 [leonardo]=16827)
declare -A SLURMD_PORT=([lumi]=16818 [leonardo]=16828)
declare -A NODE=([lumi]=lumi-n1 [leonardo]=leonardo-n1)
declare -A PARTITION=([lumi]=standard-g [leonardo]=boost_usr_prod)
declare -A GRES_TYPE=([lumi]=mi250x [leonardo]=a100)
declare -A GPUS=([lumi]=8 [leonardo]=4)
declare -A DEV_PREFIX=([lumi]=/dev/aiffake-lumi-gpu [leonardo]=/dev/aiffake-leo-gpu)
NODE_CPUS=16
NODE_MEM=16000
# Packages: the four named ones plus the JWT auth plugin (only a "Recommends" of slurm-wlm in Debian 12).
# openssh-server for the test login node (its sshd runs with its own config; the system's is not touched).
PACKAGES=(slurm-wlm slurmdbd slurmrestd munge slurm-wlm-jwt-plugin openssh-server openssh-client)
WAIT=${AIF_SLURM_WAIT:-60}   # bound, in seconds, for each wait

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
unset SLURM_CONF SLURM_JWT

DBD_DIR=$BASE/slurmdbd
JWT_KEY=$BASE/jwt.key
REST_LOG=$BASE/slurmrestd.log
REST_URL=http://127.0.0.1:$REST_PORT
SSH_PORT=16822
SSH_DIR=$BASE/ssh
# Leonardo's Booster QoS (docs.hpc.cineca.it, Leonardo): name, MaxWall, MaxTRESPerJob, written as
# "sacctmgr show qos" prints them (24 h is 1-00:00:00), so that a changed limit is seen and set again.
LEONARDO_QOS=("boost_qos_dbg 00:30:00 node=2"
              "boost_qos_bprod 1-00:00:00 node=256"
              "boost_qos_lprod 4-00:00:00 node=3")

log() { echo "slurm-test-cluster: $*" >&2; }

# die <message> [logfile]: clear message, the tail of the log, exit 1.
die() {
    log "ERROR: $1"
    if [[ -n ${2:-} && -r $2 ]]; then
        echo "---- last lines of $2 ----" >&2
        tail -n 25 "$2" >&2 || true
        echo "----" >&2
    fi
    exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

need_root() {
    is_root && return 0
    log "needs root to $1"
    exit 3
}

slurm_installed() {
    local b
    for b in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/slurmdbd /usr/sbin/slurmrestd /usr/sbin/munged \
             /usr/bin/sbatch /usr/bin/sacctmgr; do
        [[ -x $b ]] || return 1
    done
    [[ -e /usr/lib/x86_64-linux-gnu/slurm-wlm/auth_jwt.so ]] || compgen -G '/usr/lib/*/slurm-wlm/auth_jwt.so' >/dev/null
}

conf_of() { echo "$BASE/$1/slurm.conf"; }

# ---------------------------------------------------------------- process checks

# pid_alive <pidfile> <comm>: prints the pid if the pid file names a live process with that command name.
pid_alive() {
    local pid
    [[ -r $1 ]] || return 1
    pid=$(tr -dc 0-9 <"$1" 2>/dev/null) || return 1
    [[ -n $pid && -r /proc/$pid/comm ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] || return 1
    echo "$pid"
}

# Daemon pids. slurmctld and slurmd are started with "-f <conf>", so their command line names their cluster;
# the pid file is checked first, pgrep on the command line catches a daemon whose pid file went missing.
ctld_pid() {
    pid_alive "$BASE/$1/slurmctld.pid" slurmctld && return 0
    pgrep -a -x slurmctld 2>/dev/null | awk -v c=" -f $(conf_of "$1")" 'index($0 " ", c " ") {print $1; f=1; exit} END {exit !f}'
}
slurmd_pid() {
    pid_alive "$BASE/$1/slurmd.pid" slurmd && return 0
    pgrep -a -x slurmd 2>/dev/null | awk -v c=" -f $(conf_of "$1")" 'index($0 " ", c " ") {print $1; f=1; exit} END {exit !f}'
}
dbd_pid() { pid_alive "$DBD_DIR/slurmdbd.pid" slurmdbd; }
dbd_alive() { dbd_pid >/dev/null || pgrep -x slurmdbd >/dev/null; }
rest_pid() { pgrep -o -f "^(/usr/sbin/)?slurmrestd .*127\.0\.0\.1:$REST_PORT\$"; }

# stop_pid <name> <pid>...: SIGTERM, wait (bounded), then SIGKILL.
stop_pid() {
    local name=$1 i p alive
    shift
    [[ $# -gt 0 ]] || return 0
    kill -TERM "$@" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [[ $alive -eq 0 ]] && return 0
        sleep 0.1
    done
    log "$name did not stop within 30 s, sending SIGKILL"
    kill -KILL "$@" 2>/dev/null || true
    sleep 0.5
}

# wait_alive <seconds> <alive-function> <alive-arg> <command...>: like wait_until, but gives up early (status 2)
# once the daemon checked by "<alive-function> <alive-arg>" has gone (after a 2 s grace for daemonizing).
wait_alive() {
    local limit=$1 alive=$2 arg=$3 start=$SECONDS
    shift 3
    while ! "$@" >/dev/null 2>&1; do
        if ((SECONDS - start >= 2)) && ! "$alive" "$arg" >/dev/null 2>&1; then return 2; fi
        ((SECONDS - start >= limit)) && return 1
        sleep 0.25
    done
}

# port_free <port> <daemon>: dies with a clear message when something already listens on the port.
port_free() {
    local users
    if command -v ss >/dev/null 2>&1; then
        users=$(ss -Hltnp "sport = :$1" 2>/dev/null) || users=
    elif timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then
        users="(something answers on 127.0.0.1:$1)"
    fi
    [[ -z $users ]] && return 0
    die "cannot start $2: port $1 is already in use: $users"
}

# wait_until <seconds> <command...>: run the command every 0.25 s until it succeeds.
wait_until() {
    local limit=$1 start=$SECONDS
    shift
    while ! "$@" >/dev/null 2>&1; do
        ((SECONDS - start >= limit)) && return 1
        sleep 0.25
    done
}

# ---------------------------------------------------------------- files

# put_file <path> <mode> <owner> <content>: write only when the content differs; returns 0 if it changed.
put_file() {
    local path=$1 mode=$2 owner=$3 content=$4 tmp
    if [[ -f $path ]] && [[ "$(cat "$path")" == "$content" ]]; then
        chmod "$mode" "$path"
        chown "$owner" "$path"
        return 1
    fi
    tmp=$(mktemp "$path.XXXXXX")
    printf '%s\n' "$content" >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    mv -f "$tmp" "$path"
    return 0
}

slurm_conf_text() {
    local c=$1 dir=$BASE/$1 host
    host=$(hostname -s)
    cat <<EOF
# Generated by scripts/slurm-test-cluster.sh -- test cluster "$c". Edits are overwritten on "start".
ClusterName=$c
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${CTLD_PORT[$c]}
SlurmdPort=${SLURMD_PORT[$c]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Scheduling
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
MaxJobCount=100000
MinJobAge=300
# Timeouts: clients must fail within seconds when this slurmctld is down.
MessageTimeout=5
SlurmctldTimeout=10
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
# Priority: usage never decays and is never reset, so GrpTRESMins is a hard budget.
PriorityType=priority/multifactor
PriorityDecayHalfLife=0
PriorityUsageResetPeriod=NONE
# Usage (what GrpTRESMins is checked against) is added up every PriorityCalcPeriod minutes (default 5).
PriorityCalcPeriod=1
# Accounting (one slurmdbd shared by all test clusters)
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageTRES=gres/gpu
AccountingStorageEnforce=associations,limits,qos,safe
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
# The platform finds a job again by its --comment (after a crash between sbatch and commit),
# also once the job has left the queue: keep the comment in slurmdbd.
AccountingStoreFlags=job_comment
MailProg=/bin/true
# Node and partition ($NODE_CPUS CPUs declared on a small machine: config_overrides lets slurmd accept it)
NodeName=${NODE[$c]} NodeHostname=$(hostname) NodeAddr=127.0.0.1 Port=${SLURMD_PORT[$c]} CPUs=$NODE_CPUS RealMemory=$NODE_MEM Gres=gpu:${GRES_TYPE[$c]}:${GPUS[$c]} State=UNKNOWN
$(partition_lines "$c")
EOF
}

# LUMI-G's partitions (LUMI user guide, "Slurm partitions"): standard-g gives whole nodes, small-g and dev-g share.
partition_lines() {
    local c=$1
    if [[ $c == lumi ]]; then
        echo "PartitionName=standard-g Nodes=${NODE[$c]} Default=YES MaxTime=2-00:00:00 OverSubscribe=EXCLUSIVE State=UP"
        echo "PartitionName=small-g Nodes=${NODE[$c]} MaxTime=3-00:00:00 State=UP"
        echo "PartitionName=dev-g Nodes=${NODE[$c]} MaxTime=03:00:00 State=UP"
    else
        echo "PartitionName=${PARTITION[$c]} Nodes=${NODE[$c]} Default=YES MaxTime=INFINITE State=UP"
    fi
}

gres_conf_text() {
    local c=$1
    cat <<EOF
# Generated by scripts/slurm-test-cluster.sh -- fake GPUs (device files created with touch).
AutoDetect=off
NodeName=${NODE[$c]} Name=gpu Type=${GRES_TYPE[$c]} File=${DEV_PREFIX[$c]}[0-$((GPUS[$c] - 1))]
EOF
}

slurmdbd_conf_text() {
    cat <<EOF
# Generated by scripts/slurm-test-cluster.sh -- slurmdbd shared by all test clusters.
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
# root like the slurmctlds: slurmdbd pushes association/limit changes to a slurmctld only as its SlurmUser or root.
SlurmUser=root
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
DebugLevel=info
LogFile=$DBD_DIR/slurmdbd.log
PidFile=$DBD_DIR/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageLoc=$DB_NAME
StorageUser=$DB_USER
StoragePass=$(cat "$DBD_DIR/db.password")
EOF
}

# Writes every configuration file; sets CHANGED_<cluster>=1 / CHANGED_DBD=1 when a file's content changed.
write_configs() {
    local c i
    install -d -m 755 "$BASE"
    install -d -m 755 "$DBD_DIR"
    chown root:root "$DBD_DIR"
    if [[ ! -s $JWT_KEY ]]; then
        dd if=/dev/urandom of="$JWT_KEY.tmp" bs=32 count=1 status=none
        mv -f "$JWT_KEY.tmp" "$JWT_KEY"
        CHANGED_DBD=1
        for c in "${CLUSTERS[@]}"; do printf -v "CHANGED_$c" 1; done
    fi
    chown slurm:slurm "$JWT_KEY"
    chmod 600 "$JWT_KEY"
    if [[ ! -s $DBD_DIR/db.password ]]; then
        (umask 077 && head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 >"$DBD_DIR/db.password")
    fi
    chown root:root "$DBD_DIR/db.password"
    chmod 600 "$DBD_DIR/db.password"
    put_file "$DBD_DIR/slurmdbd.conf" 600 root:root "$(slurmdbd_conf_text)" && CHANGED_DBD=1
    for c in "${CLUSTERS[@]}"; do
        install -d -m 755 "$BASE/$c" "$BASE/$c/state" "$BASE/$c/spool"
        for ((i = 0; i < GPUS[$c]; i++)); do
            [[ -e ${DEV_PREFIX[$c]}$i ]] || touch "${DEV_PREFIX[$c]}$i"
        done
        put_file "$BASE/$c/slurm.conf" 644 root:root "$(slurm_conf_text "$c")" && printf -v "CHANGED_$c" 1
        put_file "$BASE/$c/gres.conf" 644 root:root "$(gres_conf_text "$c")" && printf -v "CHANGED_$c" 1
    done
    return 0
}

# ---------------------------------------------------------------- install, munge, MariaDB

install_packages() {
    local missing=() p installed
    # One dpkg-query call for all packages (same answer as "dpkg -s <p>" per package, faster).
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
    for p in "${PACKAGES[@]}"; do
        grep -qx "$p installed" <<<"$installed" || missing+=("$p")
    done
    if [[ ! -x /usr/sbin/mariadbd ]] && ! command -v mariadbd >/dev/null 2>&1; then
        missing+=(mariadb-server)
    fi
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if ! is_root; then
        log "needs root to install Slurm (missing packages: ${missing[*]})"
        exit 3
    fi
    log "installing ${missing[*]} (about a minute)"
    export DEBIAN_FRONTEND=noninteractive
    # Packages must not start their system services (openssh-server would start an sshd on port 22).
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    local ok=1
    if ! apt-get install -y -q "${missing[@]}" >"/tmp/slurm-test-cluster-apt.log" 2>&1; then
        apt-get update -q >>"/tmp/slurm-test-cluster-apt.log" 2>&1 || true
        apt-get install -y -q "${missing[@]}" >>"/tmp/slurm-test-cluster-apt.log" 2>&1 || ok=0
    fi
    [[ $made_policy == 1 ]] && rm -f "$policy"
    [[ $ok == 1 ]] || die "apt-get install ${missing[*]} failed" /tmp/slurm-test-cluster-apt.log
    return 0
}

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

ensure_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey -c -k /etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 600 /etc/munge/munge.key
    if ! pgrep -x munged >/dev/null; then
        log "starting munged"
        install -d -m 755 -o munge -g munge /run/munge
        install -d -m 700 -o munge -g munge /var/log/munge /var/lib/munge
        runuser -u munge -- /usr/sbin/munged 9>&- || die "munged did not start" /var/log/munge/munged.log
    fi
    wait_until 15 munge_ok || die "munge does not answer (munge -n | unmunge)" /var/log/munge/munged.log
}

mysql_root() { mysql -uroot --protocol=socket "$@"; }
mariadb_ok() { mysql_root -N -e 'SELECT 1' >/dev/null 2>&1 || mysql -uroot -h127.0.0.1 -P3306 -N -e 'SELECT 1' >/dev/null 2>&1; }

ensure_mariadb() {
    mariadb_ok && return 0
    if ! pgrep -x mariadbd >/dev/null; then
        log "starting MariaDB"
        install -d -m 755 -o mysql -g mysql /run/mysqld
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd 9>&- ||
            die "could not start mariadbd" /var/log/mysql/error.log
    fi
    wait_until "$WAIT" mariadb_ok || die "MariaDB does not answer on 127.0.0.1:3306 (root, empty password)" /var/log/mysql/error.log
}

ensure_database() {
    local pw
    pw=$(cat "$DBD_DIR/db.password")
    mysql_root <<EOF || die "could not create database $DB_NAME / user $DB_USER in MariaDB"
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$pw';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'localhost';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'127.0.0.1';
EOF
}

# ---------------------------------------------------------------- slurmdbd

# Any cluster's slurm.conf names the slurmdbd host and port, which is all sacctmgr needs.
sacctmgr_c() { SLURM_CONF=$(conf_of "${CLUSTERS[0]}") timeout 20 sacctmgr "$@"; }
# dbd_ok: slurmdbd answers; keeps the registered cluster names in DBD_CLUSTERS (one call, about 0.2 s).
DBD_CLUSTERS=
dbd_ok() {
    local out
    out=$(SLURM_CONF=$(conf_of "${CLUSTERS[0]}") timeout 10 sacctmgr -n -P list cluster format=cluster 2>/dev/null) || return 1
    DBD_CLUSTERS=$out
}

start_dbd() {
    local pid
    port_free "$DBD_PORT" slurmdbd
    ensure_mariadb
    ensure_database
    log "starting slurmdbd (port $DBD_PORT)"
    # slurmdbd reads slurmdbd.conf from the directory of $SLURM_CONF.
    SLURM_CONF=$DBD_DIR/slurm.conf /usr/sbin/slurmdbd 9>&- || die "slurmdbd did not start" "$DBD_DIR/slurmdbd.log"
    wait_alive "$WAIT" dbd_alive "" dbd_ok || die "slurmdbd does not answer on 127.0.0.1:$DBD_PORT (or exited)" "$DBD_DIR/slurmdbd.log"
}

ensure_dbd() {
    local pid
    if pid=$(dbd_pid); then
        if [[ ${CHANGED_DBD:-0} == 1 ]]; then
            log "slurmdbd.conf changed: restarting slurmdbd"
            stop_pid slurmdbd "$pid"
        else
            wait_until 15 dbd_ok || die "slurmdbd (pid $pid) runs but does not answer" "$DBD_DIR/slurmdbd.log"
            return 0
        fi
    fi
    start_dbd
}

# ---------------------------------------------------------------- clusters

ctld_up() { SLURM_CONF=$(conf_of "$1") timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }

node_state() { SLURM_CONF=$(conf_of "$1") timeout 10 scontrol -o show node "${NODE[$1]}" 2>/dev/null | sed -n 's/.* State=\([^ ]*\).*/\1/p'; }

register_cluster() {
    local c=$1
    if ! grep -qx "$c" <<<"$DBD_CLUSTERS"; then
        log "registering cluster $c in slurmdbd"
        sacctmgr_c -i add cluster "$c" >/dev/null || die "sacctmgr -i add cluster $c failed" "$DBD_DIR/slurmdbd.log"
    fi
}

start_ctld() {
    local c=$1 conf
    conf=$(conf_of "$c")
    port_free "${CTLD_PORT[$c]}" "slurmctld for $c"
    log "starting slurmctld for $c (port ${CTLD_PORT[$c]})"
    SLURM_CONF=$conf /usr/sbin/slurmctld -f "$conf" 9>&- || die "slurmctld for $c did not start" "$BASE/$c/slurmctld.log"
    wait_alive "$WAIT" ctld_pid "$c" ctld_up "$c" ||
        die "slurmctld for $c does not answer scontrol ping (or exited)" "$BASE/$c/slurmctld.log"
}

start_slurmd() {
    local c=$1 conf
    conf=$(conf_of "$c")
    port_free "${SLURMD_PORT[$c]}" "slurmd ${NODE[$c]}"
    log "starting slurmd ${NODE[$c]} for $c (port ${SLURMD_PORT[$c]})"
    SLURM_CONF=$conf /usr/sbin/slurmd -f "$conf" -N "${NODE[$c]}" 9>&- || die "slurmd ${NODE[$c]} did not start" "$BASE/$c/slurmd.log"
}

# Waits until the node is usable (idle, mixed, allocated); resumes it when it is DRAINED/DOWN/INVALID.
wait_node() {
    local c=$1 state start=$SECONDS last_resume=-100
    while :; do
        state=$(node_state "$c")
        case $state in
            IDLE | MIXED | ALLOCATED | COMPLETING | IDLE+COMPLETING | MIXED+COMPLETING | ALLOCATED+COMPLETING)
                return 0 ;;
        esac
        if [[ $state == *DRAIN* || $state == DOWN* || $state == INVAL* || $state == *FAIL* ]] &&
            [[ ! $state == *NOT_RESPONDING* ]] && ((SECONDS - last_resume >= 3)); then
            SLURM_CONF=$(conf_of "$c") scontrol update nodename="${NODE[$c]}" state=resume >/dev/null 2>&1 || true
            last_resume=$SECONDS
        fi
        if ((SECONDS - start >= 2)) && ! slurmd_pid "$c" >/dev/null; then
            die "slurmd ${NODE[$c]} of $c exited" "$BASE/$c/slurmd.log"
        fi
        if ((SECONDS - start >= WAIT)); then
            SLURM_CONF=$(conf_of "$c") scontrol show node "${NODE[$c]}" >&2 || true
            die "node ${NODE[$c]} of $c is not usable after ${WAIT}s (state: ${state:-unknown})" "$BASE/$c/slurmd.log"
        fi
        sleep 0.25
    done
}

ensure_cluster() {
    local c=$1 pid started=0 changed_var=CHANGED_$1
    if [[ ${!changed_var:-0} == 1 ]]; then
        if pid=$(ctld_pid "$c"); then log "$c: configuration changed, restarting slurmctld"; stop_pid slurmctld "$pid"; fi
        if pid=$(slurmd_pid "$c"); then log "$c: configuration changed, restarting slurmd"; stop_pid slurmd "$pid"; fi
    fi
    register_cluster "$c"
    if ! ctld_pid "$c" >/dev/null; then
        start_ctld "$c"
        started=1
    else
        wait_until 15 ctld_up "$c" || die "slurmctld for $c runs but does not answer scontrol ping" "$BASE/$c/slurmctld.log"
    fi
    if ! slurmd_pid "$c" >/dev/null; then
        start_slurmd "$c"
        started=1
    fi
    # Only touch the node state when this run started a daemon: a node drained on purpose stays drained.
    [[ $started == 1 ]] && wait_node "$c"
    return 0
}

# ---------------------------------------------------------------- Leonardo's QoS

# Adds the QoS that are missing (with their limits; a QoS whose limits differ is modified) and grants all of them,
# with "normal", at leonardo's root association. Every account and user association created below it later
# inherits that list: a child association without a QOS list of its own takes its parent's (checked with a new
# child account, a grandchild and a user on it: "sacctmgr show assoc" lists the four QoS for each, and
# "sbatch --qos=boost_qos_dbg -A <grandchild>" runs).
ensure_leonardo_qos() {
    local have spec name wall tres names=() want
    have=$(sacctmgr_c -n -P show qos format=name,maxwall,maxtres) || die "sacctmgr show qos failed" "$DBD_DIR/slurmdbd.log"
    for spec in "${LEONARDO_QOS[@]}"; do
        read -r name wall tres <<<"$spec"
        names+=("$name")
        if ! grep -q "^$name|" <<<"$have"; then
            log "adding QoS $name"
            sacctmgr_c -i add qos "$name" MaxWall="$wall" MaxTRESPerJob="$tres" >/dev/null ||
                die "sacctmgr add qos $name failed" "$DBD_DIR/slurmdbd.log"
        elif ! grep -qx "$name|$wall|$tres" <<<"$have"; then
            log "setting the limits of QoS $name (MaxWall=$wall MaxTRESPerJob=$tres)"
            sacctmgr_c -i modify qos where name="$name" set MaxWall="$wall" MaxTRESPerJob="$tres" >/dev/null ||
                die "sacctmgr modify qos $name failed" "$DBD_DIR/slurmdbd.log"
        fi
    done
    want=$(IFS=,; echo "normal,${names[*]}")
    have=$(sacctmgr_c -n -P show assoc where cluster=leonardo account=root user= format=qos) || have=
    if [[ $(tr ',' '\n' <<<"$have" | sort | paste -sd,) != $(tr ',' '\n' <<<"$want" | sort | paste -sd,) ]]; then
        log "granting QoS $want at leonardo's root association"
        sacctmgr_c -i modify account root where cluster=leonardo set qos="$want" >/dev/null ||
            die "sacctmgr modify account root set qos failed" "$DBD_DIR/slurmdbd.log"
    fi
}

# ---------------------------------------------------------------- sshd (the login node)

ssh_pid() { pid_alive "$SSH_DIR/sshd.pid" sshd; }
# sshd without PAM refuses every login, by key too, to an account whose password is locked ("!" in /etc/shadow,
# as root's on a machine installed without a root password); through PAM the key still gets in. So: no PAM
# (nothing of /etc/pam.d in the way, as in a container where root's field is "*"), unless root is locked.
ssh_use_pam() { [[ $(getent shadow root 2>/dev/null | cut -d: -f2) == '!'* ]] && echo yes || echo no; }
ssh_ok() {
    timeout 10 ssh -p "$SSH_PORT" -i "$SSH_DIR/client_ed25519" -o UserKnownHostsFile="$SSH_DIR/known_hosts" \
        -o StrictHostKeyChecking=yes -o BatchMode=yes root@127.0.0.1 true </dev/null
}

sshd_config_text() {
    cat <<EOF
# Generated by scripts/slurm-test-cluster.sh -- the test clusters' login node. Not the system's sshd.
ListenAddress 127.0.0.1:$SSH_PORT
HostKey $SSH_DIR/host_ed25519
PidFile $SSH_DIR/sshd.pid
AuthorizedKeysFile $SSH_DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM $(ssh_use_pam)
StrictModes yes
PrintMotd no
Subsystem sftp internal-sftp
EOF
}

ensure_sshd() {
    local pid changed=0
    install -d -m 700 -o root -g root "$SSH_DIR"
    install -d -m 755 /run/sshd   # sshd's privilege separation directory
    if [[ ! -s $SSH_DIR/host_ed25519 ]]; then
        ssh-keygen -q -t ed25519 -N '' -C aif-slurm-test-host -f "$SSH_DIR/host_ed25519"
        changed=1
    fi
    [[ -s $SSH_DIR/client_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C aif-slurm-test -f "$SSH_DIR/client_ed25519"
    put_file "$SSH_DIR/authorized_keys" 600 root:root "$(cat "$SSH_DIR/client_ed25519.pub")" || true
    put_file "$SSH_DIR/known_hosts" 644 root:root "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")" || true
    put_file "$SSH_DIR/sshd_config" 600 root:root "$(sshd_config_text)" && changed=1
    /usr/sbin/sshd -t -f "$SSH_DIR/sshd_config" 2>"$SSH_DIR/sshd_config.check" ||
        die "sshd refuses its configuration $SSH_DIR/sshd_config" "$SSH_DIR/sshd_config.check"
    if pid=$(ssh_pid); then
        if [[ $changed == 0 ]] && wait_until 10 ssh_ok; then return 0; fi
        log "restarting sshd (configuration changed or not answering)"
        stop_pid sshd "$pid"
    fi
    port_free "$SSH_PORT" sshd
    log "starting sshd (the login node) on 127.0.0.1:$SSH_PORT"
    /usr/sbin/sshd -f "$SSH_DIR/sshd_config" -E "$SSH_DIR/sshd.log" 9>&- || die "sshd did not start" "$SSH_DIR/sshd.log"
    wait_alive "$WAIT" ssh_pid "" ssh_ok || die "sshd does not let the test key in on 127.0.0.1:$SSH_PORT" "$SSH_DIR/sshd.log"
}

# ---------------------------------------------------------------- slurmrestd

rest_ok() {
    local code
    code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "$REST_URL/openapi/v3" 2>/dev/null) || true
    [[ -n $code && $code != 000 ]]
}

ensure_rest() {
    local conf pid
    conf=$(conf_of "$REST_CLUSTER")
    if pid=$(rest_pid); then
        if [[ ${CHANGED_leonardo:-0} == 1 ]]; then
            log "restarting slurmrestd (configuration changed)"
            stop_pid slurmrestd "$pid"
        else
            wait_until 15 rest_ok || die "slurmrestd (pid $pid) runs but does not answer on $REST_URL" "$REST_LOG"
            return 0
        fi
    fi
    port_free "$REST_PORT" slurmrestd
    log "starting slurmrestd for $REST_CLUSTER on 127.0.0.1:$REST_PORT"
    # slurmrestd refuses to run as root. Default plugins: every openapi/* plugin installed (22.05: v0.0.36-38 and
    # dbv0.0.36-38), so /slurm/v0.0.38/ and /slurmdb/v0.0.38/ are both served.
    setsid runuser -u slurm -- env SLURM_CONF="$conf" SLURM_JWT= /usr/sbin/slurmrestd -a rest_auth/jwt \
        "127.0.0.1:$REST_PORT" </dev/null >>"$REST_LOG" 2>&1 9>&- &
    wait_alive "$WAIT" rest_pid "" rest_ok || die "slurmrestd does not answer on $REST_URL (or exited)" "$REST_LOG"
}

# ---------------------------------------------------------------- description files

write_descriptions() {
    local c u env json first=1
    env="# Generated by scripts/slurm-test-cluster.sh -- source this file.
AIF_SLURM_TEST_DIR=$BASE
AIF_SLURM_CLUSTERS=\"${CLUSTERS[*]}\"
AIF_SLURM_JWT_KEY=$JWT_KEY
AIF_SLURM_DBD_PORT=$DBD_PORT
AIF_SLURM_REST_CLUSTER=$REST_CLUSTER
AIF_SLURM_REST_URL=$REST_URL"
    json="{"
    for c in "${CLUSTERS[@]}"; do
        u=${c^^}
        env+="
AIF_SLURM_${u}_CONF=$(conf_of "$c")
AIF_SLURM_${u}_PARTITION=${PARTITION[$c]}
AIF_SLURM_${u}_GRES_TYPE=${GRES_TYPE[$c]}
AIF_SLURM_${u}_GPUS=${GPUS[$c]}
AIF_SLURM_${u}_NODE=${NODE[$c]}
AIF_SLURM_${u}_CTLD_PORT=${CTLD_PORT[$c]}"
        [[ $first == 1 ]] || json+=","
        first=0
        json+="
  \"$c\": {\"slurm_conf\": \"$(conf_of "$c")\", \"partition\": \"${PARTITION[$c]}\", \"gres_type\": \"${GRES_TYPE[$c]}\", \"gpus\": ${GPUS[$c]}, \"node\": \"${NODE[$c]}\", \"cpus\": $NODE_CPUS, \"ctld_port\": ${CTLD_PORT[$c]}"
        if [[ $c == "$REST_CLUSTER" ]]; then
            env+="
AIF_SLURM_${u}_REST_URL=$REST_URL"
            json+=", \"rest_url\": \"$REST_URL\""
        fi
        if [[ $c == lumi ]]; then
            json+=", \"partitions\": [\"standard-g\", \"small-g\", \"dev-g\"], \"ssh\": {\"host\": \"127.0.0.1\", \"port\": $SSH_PORT, \"user\": \"root\", \"identity_file\": \"$SSH_DIR/client_ed25519\", \"known_hosts\": \"$SSH_DIR/known_hosts\", \"options\": [\"-p\", \"$SSH_PORT\", \"-i\", \"$SSH_DIR/client_ed25519\", \"-o\", \"UserKnownHostsFile=$SSH_DIR/known_hosts\", \"-o\", \"StrictHostKeyChecking=yes\", \"-o\", \"BatchMode=yes\"]}"
        else
            json+=", \"partitions\": [\"${PARTITION[$c]}\"], \"qos\": [\"normal\", \"boost_qos_dbg\", \"boost_qos_bprod\", \"boost_qos_lprod\"]"
        fi
        json+="}"
    done
    json+=",
  \"jwt_key\": \"$JWT_KEY\",
  \"slurmdbd_port\": $DBD_PORT
}"
    put_file "$BASE/clusters.env" 644 root:root "$env" || true
    put_file "$BASE/clusters.json" 644 root:root "$json" || true
}

# ---------------------------------------------------------------- commands

all_running() {
    local c
    pgrep -x munged >/dev/null && dbd_pid >/dev/null && rest_pid >/dev/null && ssh_pid >/dev/null || return 1
    for c in "${CLUSTERS[@]}"; do
        ctld_pid "$c" >/dev/null && slurmd_pid "$c" >/dev/null || return 1
    done
}

check_cluster_arg() {
    local c
    for c in "${CLUSTERS[@]}"; do [[ $1 == "$c" ]] && return 0; done
    log "unknown cluster '$1' (known: ${CLUSTERS[*]})"
    exit 2
}

# Serialises start/stop runs. Every daemon is started with "9>&-" so that none inherits the lock.
lock() {
    install -d -m 755 "$BASE"
    exec 9>"$BASE/.lock"
    flock -w 300 9 || die "another slurm-test-cluster.sh holds $BASE/.lock"
}

cmd_start() {
    local c
    install_packages
    if ! is_root; then
        if all_running && [[ -r $BASE/clusters.json ]]; then
            return 0
        fi
        log "needs root to start the Slurm test clusters"
        exit 3
    fi
    lock
    ensure_munge
    write_configs
    ensure_dbd
    for c in "${CLUSTERS[@]}"; do ensure_cluster "$c"; done
    ensure_leonardo_qos
    ensure_rest
    ensure_sshd
    write_descriptions
    log "running: clusters ${CLUSTERS[*]}; see $BASE/clusters.json"
}

cmd_stop() {
    local c pid pids=() names=()
    need_root "stop the Slurm test clusters"
    lock
    if pid=$(rest_pid); then log "stopping slurmrestd"; stop_pid slurmrestd "$pid"; fi
    if pid=$(ssh_pid); then log "stopping sshd"; stop_pid sshd "$pid"; fi
    # All slurmctlds and slurmds at once (a slurmctld takes about 3 s to shut down).
    for c in "${CLUSTERS[@]}"; do
        if pid=$(ctld_pid "$c"); then pids+=("$pid"); names+=("slurmctld/$c"); fi
        if pid=$(slurmd_pid "$c"); then pids+=("$pid"); names+=("slurmd/$c"); fi
    done
    if [[ ${#pids[@]} -gt 0 ]]; then
        log "stopping ${names[*]}"
        stop_pid "${names[*]}" "${pids[@]}"
    fi
    if pid=$(dbd_pid); then log "stopping slurmdbd"; stop_pid slurmdbd "$pid"; fi
    return 0
}

cmd_stop_ctld() {
    local c=$1 pid
    check_cluster_arg "$c"
    need_root "stop slurmctld"
    lock
    if pid=$(ctld_pid "$c"); then
        log "stopping slurmctld $c (pid $pid)"
        stop_pid slurmctld "$pid"
    fi
    # Its port must be closed too (slurmscriptd and listeners are gone with it).
    ctld_pid "$c" >/dev/null && die "slurmctld for $c is still running" "$BASE/$c/slurmctld.log"
    return 0
}

cmd_start_ctld() {
    local c=$1
    check_cluster_arg "$c"
    need_root "start slurmctld"
    lock
    if ctld_pid "$c" >/dev/null; then
        wait_until "$WAIT" ctld_up "$c" || die "slurmctld for $c does not answer scontrol ping" "$BASE/$c/slurmctld.log"
        return 0
    fi
    start_ctld "$c"
    slurmd_pid "$c" >/dev/null || start_slurmd "$c"
    # The node is UNKNOWN until its slurmd registers again with the new slurmctld.
    wait_node "$c"
}

cmd_status() {
    local c pid ok=0 line
    slurm_installed || { echo "Slurm: not installed"; return 1; }
    if pid=$(pgrep -o -x munged); then echo "munged      running  pid $pid"; else echo "munged      stopped"; ok=1; fi
    if pid=$(pgrep -o -x mariadbd); then echo "mariadbd    running  pid $pid"; else echo "mariadbd    stopped"; ok=1; fi
    if pid=$(dbd_pid); then echo "slurmdbd    running  pid $pid  127.0.0.1:$DBD_PORT"; else echo "slurmdbd    stopped"; ok=1; fi
    for c in "${CLUSTERS[@]}"; do
        if pid=$(ctld_pid "$c"); then
            line="slurmctld   running  pid $pid  $c 127.0.0.1:${CTLD_PORT[$c]}"
            ctld_up "$c" && line+="  (ping UP)" || line+="  (ping NOT answering)"
            echo "$line"
        else
            echo "slurmctld   stopped  $c"; ok=1
        fi
        if pid=$(slurmd_pid "$c"); then
            line="slurmd      running  pid $pid  $c ${NODE[$c]} 127.0.0.1:${SLURMD_PORT[$c]}"
            ctld_pid "$c" >/dev/null && line+="  state $(node_state "$c")"
            echo "$line"
        else
            echo "slurmd      stopped  $c ${NODE[$c]}"; ok=1
        fi
    done
    if pid=$(rest_pid); then echo "slurmrestd  running  pid $pid  $REST_URL ($REST_CLUSTER)"; else echo "slurmrestd  stopped"; ok=1; fi
    if pid=$(ssh_pid); then echo "sshd        running  pid $pid  127.0.0.1:$SSH_PORT (login node)"; else echo "sshd        stopped"; ok=1; fi
    [[ -r $BASE/clusters.json ]] && echo "description: $BASE/clusters.json, $BASE/clusters.env"
    return $ok
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

main() {
    local cmd=${1:-}
    case $cmd in
        start) cmd_start ;;
        stop) cmd_stop ;;
        stop-ctld) [[ $# -eq 2 ]] || { usage >&2; exit 2; }; cmd_stop_ctld "$2" ;;
        start-ctld) [[ $# -eq 2 ]] || { usage >&2; exit 2; }; cmd_start_ctld "$2" ;;
        status) cmd_status ;;
        -h | --help | help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
