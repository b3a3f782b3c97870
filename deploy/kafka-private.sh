#!/usr/bin/env bash
# A private Apache Kafka (KRaft, combined broker+controller nodes) for the
# tests, under a directory of our own, listening on 127.0.0.1 only. The broker
# jars come from Maven Central once (deploy/kafka/pom.xml) and are kept under
# var/kafka-libs/ (Maven's own repository under var/m2). As root, the JVMs run
# as the unprivileged system user 'cpsync-kafka' (created if missing), the way
# pg-private.sh runs PostgreSQL as 'postgres'; every file is created with
# umask 077.
#
#   deploy/kafka-private.sh start DIR PORT [NODES]   format if needed, start, wait
#   deploy/kafka-private.sh stop DIR                 every node: SIGTERM, then SIGKILL
#   deploy/kafka-private.sh kill DIR NODE            SIGKILL node NODE (1..NODES)
#   deploy/kafka-private.sh restart-node DIR NODE    start node NODE again, wait
#   deploy/kafka-private.sh libs                     fetch if needed, print the jars' directory
#
# start and restart-node print the bootstrap address on stdout (its only
# line): 127.0.0.1:PORT, or 127.0.0.1:PORT,127.0.0.1:PORT+1,... for NODES
# nodes. Node N's client listener is PORT+N-1, its controller listener
# PORT+100+N-1 (CPSYNC_KAFKA_CONTROLLER_PORT moves that base). A DIR keeps its
# node count; start on a running DIR only waits and prints again (and starts
# any node that was killed). Replication factor = NODES for new topics and the
# internal ones; broker.session.timeout.ms=4000, so a SIGKILLed node's
# partitions get new leaders after ~4 s. Logs: DIR/nodeN/server.log.
# Kafka's tools run from the same jars:
#   java -cp "$(deploy/kafka-private.sh libs)/*" org.apache.kafka.tools.TopicCommand \
#       --bootstrap-server 127.0.0.1:PORT --create --topic T --replication-factor 3
#
# Environment (all optional):
#   CPSYNC_KAFKA_MIN_ISR       min.insync.replicas (default 1 for 1 node, 2 for more)
#   CPSYNC_KAFKA_PARTITIONS    num.partitions of auto-created topics (default 8)
#   CPSYNC_KAFKA_PROPS         extra broker properties, "key=value" separated by spaces or newlines
#   CPSYNC_KAFKA_HEAP          -Xmx of each node (default 512m)
#   CPSYNC_KAFKA_JVM_OPTS      more JVM options
#   CPSYNC_KAFKA_START_TIMEOUT seconds to wait for metadata (default 120)
#   CPSYNC_KAFKA_STOP_TIMEOUT  seconds between SIGTERM and SIGKILL (default 30)
#   CPSYNC_KAFKA_USER          the user the JVMs run as when started by root (default cpsync-kafka)
set -euo pipefail
umask 077

usage() {
	echo "usage: kafka-private.sh start DIR PORT [NODES] | stop DIR | kill DIR NODE | restart-node DIR NODE | libs" >&2
	exit 2
}
say() { echo "kafka-private: $*" >&2; }
die() {
	say "$*"
	exit 1
}

[ $# -ge 1 ] || usage
cmd=$1
[ $# -ge 2 ] || [ "$cmd" = libs ] || usage
dir=${2:-.}
case "$dir" in /*) ;; *) dir=$(pwd)/$dir ;; esac
dir=${dir%/}
root=$(cd "$(dirname "$0")/.." && pwd)
pom=$root/deploy/kafka/pom.xml
kuser=${CPSYNC_KAFKA_USER:-cpsync-kafka}
is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1

apt_install() {
	local sudo=""
	[ $is_root -eq 1 ] || sudo="sudo"
	say "installing $*"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# A java of version 17 or later (Kafka 4 needs 17).
java_ok() {
	local v
	v=$("$1" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1)
	[ -n "$v" ] && [ "$v" -ge 17 ]
}
find_java() {
	local j
	for j in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" /usr/lib/jvm/java-*-openjdk-*/bin/java; do
		if [ -n "$j" ] && [ -x "$j" ] && java_ok "$j"; then
			echo "$j"
			return 0
		fi
	done
	return 1
}
need_java() {
	java=$(find_java) || {
		apt_install openjdk-17-jre-headless
		java=$(find_java) || die "no Java 17 or later after installing openjdk-17-jre-headless"
	}
}
need_cmd() { # command package
	command -v "$1" >/dev/null 2>&1 || apt_install "$2"
	command -v "$1" >/dev/null 2>&1 || die "no '$1' after installing $2"
}

# The unprivileged user the JVMs run as when we are root.
need_user() {
	[ $is_root -eq 1 ] || return 0
	id -u "$kuser" >/dev/null 2>&1 && return 0
	useradd --system --user-group --home-dir /nonexistent --no-create-home \
		--shell /usr/sbin/nologin --comment "cpsync private Kafka" "$kuser" 2>/dev/null ||
		id -u "$kuser" >/dev/null 2>&1 || die "cannot create the system user '$kuser'"
}

# Runs a command as the JVMs' user, with a clean environment.
as_kafka() {
	local envv=(env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 HOME="$dir")
	if [ $is_root -eq 1 ]; then
		setpriv --reuid="$kuser" --regid="$kuser" --init-groups -- "${envv[@]}" "$@"
	else
		"${envv[@]}" "$@"
	fi
}

# Kafka's jars, fetched once with Maven into var/kafka-libs/kafka-VERSION-POMHASH.
need_libs() {
	local kver hash cache tmp t0 t1 n size
	kver=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
	hash=$(sha256sum "$pom" | cut -c1-10)
	cache=$root/var/kafka-libs
	libs=$cache/kafka-$kver-$hash
	if [ ! -f "$libs/.complete" ]; then
		need_cmd mvn maven
		# var/ itself: traversable by the JVMs' user, listable by nobody else.
		[ -d "$root/var" ] || { mkdir -p "$root/var" && chmod 711 "$root/var"; }
		mkdir -p "$cache" "$root/var/m2"
		exec 8>"$cache/.lock"
		flock 8
		if [ ! -f "$libs/.complete" ]; then
			say "fetching Apache Kafka $kver and its dependencies from Maven Central (once) ..."
			t0=$(date +%s.%N)
			tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
			if ! mvn -q -B -f "$pom" -Dmaven.repo.local="$root/var/m2" \
				dependency:copy-dependencies -DincludeScope=runtime \
				-DoutputDirectory="$tmp" >"$cache/fetch.log" 2>&1; then
				tail -n 40 "$cache/fetch.log" >&2
				rm -rf "$tmp"
				die "mvn dependency:copy-dependencies failed (whole log: $cache/fetch.log)"
			fi
			t1=$(date +%s.%N)
			n=$(find "$tmp" -name '*.jar' | wc -l)
			size=$(du -sm "$tmp" | cut -f1)
			[ -f "$(ls "$tmp"/kafka_2.13-*.jar 2>/dev/null | head -n 1)" ] || die "no kafka_2.13 jar after the fetch (see $cache/fetch.log)"
			touch "$tmp/.complete"
			rm -rf "$libs"
			mv "$tmp" "$libs"
			say "fetched Kafka $kver: $n jars, ${size} MB, in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s ($libs)"
		fi
		flock -u 8
		exec 8>&-
	fi
	if [ $is_root -eq 1 ]; then
		# Readable by the JVMs' group only.
		if [ "$(stat -c %G "$libs")" != "$kuser" ]; then
			chgrp -R "$kuser" "$cache"
			find "$cache" -type d -exec chmod 750 {} +
			find "$libs" -type f -exec chmod 640 {} +
		fi
		as_kafka test -r "$libs/.complete" ||
			die "user $kuser cannot read $libs; make its parents (e.g. $root/var) traversable (chmod o+x)"
	fi
}

nodedir() { echo "$dir/node$1"; }
node_pid() { cat "$(nodedir "$1")/pid" 2>/dev/null || true; }
# Node $1's JVM is alive (and is really that node: pids get reused).
node_running() {
	local pid
	pid=$(node_pid "$1")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $(nodedir "$1")/server.properties"
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

load_state() {
	[ -f "$dir/nodes" ] && [ -f "$dir/port" ] || die "$dir holds no private Kafka (start it first)"
	nodes=$(cat "$dir/nodes")
	port=$(cat "$dir/port")
	cport=$(cat "$dir/controller-port")
}

bootstrap() {
	local i out=""
	for ((i = 0; i < nodes; i++)); do out+="${out:+,}127.0.0.1:$((port + i))"; done
	echo "$out"
}

write_config() { # node
	local i=$1 nd voters="" j minisr rf parts p controlled
	nd=$(nodedir "$i")
	for ((j = 1; j <= nodes; j++)); do voters+="${voters:+,}$j@127.0.0.1:$((cport + j - 1))"; done
	rf=$nodes
	if [ "$nodes" -ge 2 ]; then minisr=${CPSYNC_KAFKA_MIN_ISR:-2}; else minisr=${CPSYNC_KAFKA_MIN_ISR:-1}; fi
	parts=${CPSYNC_KAFKA_PARTITIONS:-8}
	# stop takes every node down at once: with several nodes, the last one
	# left would ask a controller quorum that is gone for its controlled
	# shutdown, and wait for it until SIGKILL. A single node's own controller
	# outlives its broker, so it can shut down in a controlled way.
	controlled=true
	[ "$nodes" -eq 1 ] || controlled=false
	{
		echo "# Written by deploy/kafka-private.sh at each start: edits are lost."
		cat <<PROPS
process.roles=broker,controller
node.id=$i
listeners=PLAINTEXT://127.0.0.1:$((port + i - 1)),CONTROLLER://127.0.0.1:$((cport + i - 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$((port + i - 1))
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.voters=$voters
log.dirs=$nd/data
num.partitions=$parts
default.replication.factor=$rf
min.insync.replicas=$minisr
auto.create.topics.enable=true
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$minisr
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$minisr
group.initial.rebalance.delay.ms=0
unclean.leader.election.enable=false
controlled.shutdown.enable=$controlled
# A broker killed or stopped without a controlled shutdown keeps its
# registration until its session times out; its next start waits for that
# (DuplicateBrokerRegistrationException), and its partitions move only then.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
PROPS
		for p in ${CPSYNC_KAFKA_PROPS:-}; do echo "$p"; done
	} >"$nd/server.properties.new"
	mv "$nd/server.properties.new" "$nd/server.properties"
	cp "$root/deploy/kafka/log4j2.properties" "$nd/log4j2.properties"
	if [ $is_root -eq 1 ]; then chown "$kuser:$kuser" "$nd/server.properties" "$nd/log4j2.properties"; fi
}

launch() { # node
	local i=$1 nd
	nd=$(nodedir "$i")
	# C1 only (TieredStopAtLevel=1): on 2 cores three JVMs busy in C2 at
	# start-up took ~32 s to answer, against ~19 s; a test broker needs no peak
	# throughput. A later -XX:TieredStopAtLevel=4 in CPSYNC_KAFKA_JVM_OPTS wins.
	local jvm=(-Xms128m "-Xmx${CPSYNC_KAFKA_HEAP:-512m}" -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1)
	case "${CPSYNC_KAFKA_JVM_OPTS:-}" in
	*-XX:+Use*GC*) ;;
	*) jvm+=(-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
		-XX:+ExplicitGCInvokesConcurrent -XX:ParallelGCThreads=2 -XX:ConcGCThreads=1) ;;
	esac
	jvm+=(-XX:+ExitOnOutOfMemoryError -XX:-UsePerfData "-XX:ErrorFile=$nd/hs_err_%p.log"
		-Djava.awt.headless=true "-Djava.io.tmpdir=$nd/tmp" "-Dkafka.logs.dir=$nd"
		"-Dlog4j2.configurationFile=$nd/log4j2.properties")
	# shellcheck disable=SC2206
	[ -z "${CPSYNC_KAFKA_JVM_OPTS:-}" ] || jvm+=($CPSYNC_KAFKA_JVM_OPTS)
	rm -f "$nd/pid"
	echo "[$(date '+%F %T')] kafka-private: starting node $i" | as_kafka sh -c 'cat >>"$1"' sh "$nd/server.log"
	# One process, exec after exec (setpriv, env, setsid, sh, java): the shell
	# writes its own pid, then becomes the JVM, in a session of its own and
	# holding none of our descriptors (a caller reading our stdout or stderr
	# through a pipe sees its end when we exit). Started as a plain command,
	# not through a function: a function in the background would leave a bash
	# waiting on the JVM with our stderr open.
	local run=(env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 HOME="$dir" setsid sh -c
		'umask 077; exec >>"$1/server.log" 2>&1; echo $$ >"$1/pid"; shift; exec "$@"'
		sh "$nd" "$java" "${jvm[@]}" -cp "$libs/*" kafka.Kafka "$nd/server.properties")
	[ $is_root -eq 0 ] || run=(setpriv --reuid="$kuser" --regid="$kuser" --init-groups -- "${run[@]}")
	"${run[@]}" </dev/null >/dev/null 2>"$nd/launch.log" &
	launched[$i]=$(date +%s)
}

show_logs() {
	local i nd
	for ((i = 1; i <= nodes; i++)); do
		nd=$(nodedir "$i")
		[ -f "$nd/server.log" ] || continue
		echo "---- $nd/server.log (last 30 lines) ----" >&2
		tail -n 30 "$nd/server.log" >&2
	done
}

# Waits until each listed node answers metadata listing all the nodes as brokers.
wait_ready() { # nodes...
	local deadline i p ok t0
	t0=$(date +%s)
	deadline=$(($(date +%s) + ${CPSYNC_KAFKA_START_TIMEOUT:-120}))
	for i in "$@"; do
		p=$((port + i - 1))
		ok=0
		while [ "$(date +%s)" -lt "$deadline" ]; do
			if [ -z "$(node_pid "$i")" ]; then
				# Launched, but its shell has not written the pid yet.
				if [ $(($(date +%s) - ${launched[$i]:-0})) -gt 20 ]; then
					say "node $i did not start: $(cat "$(nodedir "$i")/launch.log" 2>/dev/null)"
					return 1
				fi
				sleep 0.2
				continue
			fi
			if ! node_running "$i"; then
				say "node $i (127.0.0.1:$p) exited during start-up"
				show_logs
				return 1
			fi
			if kcat -L -b "127.0.0.1:$p" -m 3 2>/dev/null | grep -q "^ $nodes brokers:"; then
				ok=1
				break
			fi
			sleep 0.5
		done
		if [ $ok -eq 0 ]; then
			say "node $i (127.0.0.1:$p) did not answer metadata with $nodes brokers within ${CPSYNC_KAFKA_START_TIMEOUT:-120}s"
			show_logs
			return 1
		fi
	done
	say "ready in $(($(date +%s) - t0))s: $(bootstrap)"
}

stop_nodes() { # nodes...
	local i pid pids=() deadline
	for i in "$@"; do
		if node_running "$i"; then
			pid=$(node_pid "$i")
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$i")
		fi
	done
	deadline=$(($(date +%s) + ${CPSYNC_KAFKA_STOP_TIMEOUT:-30}))
	for i in "${pids[@]}"; do
		while node_running "$i" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
		if node_running "$i"; then
			say "node $i still running after ${CPSYNC_KAFKA_STOP_TIMEOUT:-30}s: SIGKILL"
			kill -KILL "$(node_pid "$i")" 2>/dev/null || true
			wait_gone "$i" || die "node $i (pid $(node_pid "$i")) survives SIGKILL (not ours to signal?)"
		fi
	done
	for i in "$@"; do rm -f "$(nodedir "$i")/pid"; done
}
wait_gone() { # node: up to 10 s
	local k
	for ((k = 0; k < 100; k++)); do
		node_running "$1" || return 0
		sleep 0.1
	done
	return 1
}

all_nodes() { seq 1 "$nodes"; }
declare -A launched=()

case "$cmd" in
start)
	port=${3:?usage: kafka-private.sh start DIR PORT [NODES]}
	nodes=${4:-1}
	[[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] || die "bad port '$port'"
	[[ $nodes =~ ^[1-9]$ ]] || die "bad node count '$nodes' (1..9)"
	cport=${CPSYNC_KAFKA_CONTROLLER_PORT:-$((port + 100))}
	if [ -f "$dir/nodes" ] && [ "$(cat "$dir/nodes")" != "$nodes" ]; then
		die "$dir holds a $(cat "$dir/nodes")-node cluster, not $nodes: stop it and remove $dir first"
	fi
	need_java
	need_cmd kcat kcat
	need_cmd setsid util-linux
	need_user
	need_libs
	mkdir -p "$dir"
	if [ $is_root -eq 1 ]; then
		chown "$kuser:$kuser" "$dir"
		chmod 700 "$dir"
		as_kafka test -w "$dir" ||
			die "user $kuser cannot reach '$dir'; make its parents world-executable"
	fi
	# A running node keeps its ports.
	running=()
	for ((i = 1; i <= nodes; i++)); do node_running "$i" && running+=("$i"); done
	if [ ${#running[@]} -gt 0 ] && [ -f "$dir/port" ] && [ "$(cat "$dir/port")" != "$port" ]; then
		die "$dir is running on port $(cat "$dir/port"), not $port: stop it first"
	fi
	tostart=()
	for ((i = 1; i <= nodes; i++)); do
		node_running "$i" && continue
		for p in $((port + i - 1)) $((cport + i - 1)); do
			port_busy "$p" && die "port $p is already in use on 127.0.0.1 (node $i)"
		done
		tostart+=("$i")
	done
	echo "$nodes" >"$dir/nodes"
	echo "$port" >"$dir/port"
	echo "$cport" >"$dir/controller-port"
	if [ ! -s "$dir/cluster-id" ]; then
		# A Kafka Uuid: 16 random bytes, URL-safe base64 without padding, not starting with '-'.
		while :; do
			cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
			[ "${cid:0:1}" != "-" ] && break
		done
		echo "$cid" >"$dir/cluster-id"
	fi
	cid=$(cat "$dir/cluster-id")
	[ $is_root -eq 0 ] || chown "$kuser:$kuser" "$dir/nodes" "$dir/port" "$dir/controller-port" "$dir/cluster-id"
	# Format the storage of new nodes (in parallel: one JVM start each).
	fpids=()
	for i in "${tostart[@]}"; do
		nd=$(nodedir "$i")
		if [ $is_root -eq 1 ]; then install -d -o "$kuser" -g "$kuser" -m 700 "$nd" "$nd/tmp"; else mkdir -p "$nd/tmp"; fi
		write_config "$i"
		if [ ! -f "$nd/data/meta.properties" ]; then
			as_kafka sh -c 'umask 077; exec "$@" >"$0/format.log" 2>&1' "$nd" \
				"$java" -Xmx256m -XX:TieredStopAtLevel=1 -XX:-UsePerfData "-Dlog4j2.configurationFile=$nd/log4j2.properties" \
				-cp "$libs/*" kafka.tools.StorageTool format -t "$cid" -c "$nd/server.properties" &
			fpids+=("$!:$i")
		fi
	done
	for fp in "${fpids[@]}"; do
		if ! wait "${fp%%:*}"; then
			i=${fp#*:}
			cat "$(nodedir "$i")/format.log" >&2
			die "formatting the storage of node $i failed"
		fi
	done
	for i in "${tostart[@]}"; do launch "$i"; done
	if ! wait_ready $(all_nodes); then
		stop_nodes $(all_nodes)
		exit 1
	fi
	bootstrap
	;;
stop)
	[ -d "$dir" ] || exit 0
	[ -f "$dir/nodes" ] || exit 0
	nodes=$(cat "$dir/nodes")
	stop_nodes $(all_nodes)
	;;
kill)
	node=${3:?usage: kafka-private.sh kill DIR NODE}
	load_state
	[[ $node =~ ^[0-9]+$ ]] && [ "$node" -ge 1 ] && [ "$node" -le "$nodes" ] || die "no node '$node' (1..$nodes)"
	if node_running "$node"; then
		kill -KILL "$(node_pid "$node")"
		wait_gone "$node" || die "node $node (pid $(node_pid "$node")) survives SIGKILL"
		say "node $node (127.0.0.1:$((port + node - 1))) killed"
	else
		say "node $node is not running"
	fi
	rm -f "$(nodedir "$node")/pid"
	;;
restart-node)
	node=${3:?usage: kafka-private.sh restart-node DIR NODE}
	load_state
	[[ $node =~ ^[0-9]+$ ]] && [ "$node" -ge 1 ] && [ "$node" -le "$nodes" ] || die "no node '$node' (1..$nodes)"
	need_java
	need_cmd kcat kcat
	need_user
	need_libs
	if ! node_running "$node"; then
		[ -f "$(nodedir "$node")/data/meta.properties" ] || die "node $node was never formatted: use start"
		for p in $((port + node - 1)) $((cport + node - 1)); do
			port_busy "$p" && die "port $p is already in use on 127.0.0.1 (node $node)"
		done
		launch "$node"
	fi
	wait_ready "$node" || exit 1
	bootstrap
	;;
libs)
	need_java
	need_user
	need_libs
	echo "$libs"
	;;
*)
	usage
	;;
esac
