/*
 * coord_script.c - writes the restart script of a committed generation:
 *   <scriptdir>/dmtcp_restart_script_<jobid>.sh   the script (a regular file, mode 0755)
 *   <scriptdir>/dmtcp_restart_script.sh           symlink to it (the newest job wins)
 * Both are replaced atomically (temp name, fsync, rename; then the directory is fsync'd), so a
 * crash leaves the previous complete script or the new one, never half of one.
 * Durability in three rounds, each waiting for the one before (a round's fsyncs run at once,
 * one thread each, so the filesystem can commit them together): 1. the temp MANIFESTs and the
 * temp script; 2. renamed to their names, the directories of the MANIFESTs; 3. renamed, the
 * script's directory. So a durable script never names a generation whose MANIFEST could be
 * lost (the image files themselves are durable before their WRITTEN reaches us).
 *
 * The script is bash. It takes DMTCP's overrides (-h/--coord-host, -p/--coord-port,
 * -i/--interval, --ckptdir, --restartdir), finds dmtcp_restart on PATH or falls back to the one
 * next to this coordinator (../launcher/dmtcp_restart in a build tree), and restarts in one
 * dmtcp_restart call the images written on the host it runs on (all of them when they all come
 * from one host); for other hosts it prints what to run there. Every value from a worker is
 * single-quoted, so no path or host name can inject shell code.
 *
 * An MPI job (its processes registered as MPI ranks) gets a script that relaunches it the way
 * it was launched, with one dmtcp_restart per rank that picks its own image from the
 * generation's MANIFEST (docs/mpi-ckpt.md section 3): `srun --mpi=pmi2 -n N $DMTCP_SRUN_ARGS`
 * when the script runs inside a Slurm allocation, else `mpiexec -n N $DMTCP_MPIEXEC_ARGS`
 * (e.g. DMTCP_MPIEXEC_ARGS="-hosts C,D" to restart on other nodes). Every generation
 * directory gets a MANIFEST (rank, host and image of every process), written like the
 * script (temp, fsync, rename).
 */
#define LOG_PREFIX "coord"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "log.h"

struct image {
	const char *host, *path;
	int rank; /* MPI rank, -1 for a process that is not one */
	uint32_t size;
	const char *launcher;
};

static int cmp_image(const void *a, const void *b)
{
	const struct image *x = a, *y = b;
	int c = strcmp(x->host, y->host);
	return c ? c : strcmp(x->path, y->path);
}

/* Write s single-quoted for bash. */
static void put_quoted(FILE *fp, const char *s)
{
	fputc('\'', fp);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", fp);
		else
			fputc(*s, fp);
	}
	fputc('\'', fp);
}

static const char script_usage[] =
    "Usage: $0 [OPTIONS]\n"
    "Restart the job from the checkpoint images listed in this script.\n"
    "  -h, --coord-host HOST   coordinator host (default: $coord_host)\n"
    "  -p, --coord-port PORT   coordinator port (default: $coord_port)\n"
    "  -i, --interval SECS     checkpoint interval after restart (default: $checkpoint_interval)\n"
    "  --ckptdir DIR           directory for the next checkpoint images\n"
    "  --restartdir DIR        read the images from DIR (they were moved there)\n"
    "  --help                  print this text\n";

static const char script_body[] =
    "usage() {\n"
    "  cat <<EOF\n%s"
    "EOF\n"
    "}\n"
    "\n"
    "need_arg() {\n"
    "  if [ \"$1\" -lt 2 ]; then echo \"$0: option '$2' needs a value\" >&2; usage >&2; exit 1; "
    "fi\n"
    "}\n"
    "\n"
    "while [ $# -gt 0 ]; do\n"
    "  case \"$1\" in\n"
    "    -h|--coord-host) need_arg $# \"$1\"; coord_host=$2; shift 2 ;;\n"
    "    -p|--coord-port) need_arg $# \"$1\"; coord_port=$2; shift 2 ;;\n"
    "    -i|--interval) need_arg $# \"$1\"; checkpoint_interval=$2; shift 2 ;;\n"
    "    --ckptdir) need_arg $# \"$1\"; ckpt_dir=$2; shift 2 ;;\n"
    "    --restartdir) need_arg $# \"$1\"; restart_dir=$2; shift 2 ;;\n"
    "    --coord-host=*) coord_host=${1#*=}; shift ;;\n"
    "    --coord-port=*) coord_port=${1#*=}; shift ;;\n"
    "    --interval=*) checkpoint_interval=${1#*=}; shift ;;\n"
    "    --ckptdir=*) ckpt_dir=${1#*=}; shift ;;\n"
    "    --restartdir=*) restart_dir=${1#*=}; shift ;;\n"
    "    --help) usage; exit 0 ;;\n"
    "    *) echo \"$0: unknown option '$1'\" >&2; usage >&2; exit 1 ;;\n"
    "  esac\n"
    "done\n"
    "\n"
    "dmtcp_restart=$(command -v dmtcp_restart 2>/dev/null)\n"
    "if [ -z \"$dmtcp_restart\" ]; then dmtcp_restart=$dmtcp_restart_default; fi\n"
    "\n"
    "# Where an image is now: as written, or under --restartdir (flat or per generation).\n"
    "resolve() {\n"
    "  resolved=$1\n"
    "  if [ -z \"$restart_dir\" ]; then return; fi\n"
    "  local base=${1##*/} dir=${1%%/*}\n"
    "  local gendir=${dir##*/}\n"
    "  if [ -e \"$restart_dir/$base\" ]; then resolved=$restart_dir/$base\n"
    "  elif [ -e \"$restart_dir/$gendir/$base\" ]; then resolved=$restart_dir/$gendir/$base\n"
    "  else resolved=$restart_dir/$base; fi\n"
    "}\n"
    "\n"
    "this_host=$(hostname 2>/dev/null || uname -n)\n"
    "run_host=\n"
    "if [ ${#hosts[@]} -eq 1 ]; then\n"
    "  run_host=${hosts[0]}\n"
    "else\n"
    "  for h in \"${hosts[@]}\"; do\n"
    "    if [ \"$h\" = \"$this_host\" ] || [ \"${h%%%%.*}\" = \"${this_host%%%%.*}\" ]; then "
    "run_host=$h; fi\n"
    "  done\n"
    "fi\n"
    "if [ -z \"$run_host\" ]; then\n"
    "  echo \"$0: no image of this job was written on $this_host; the images are on: ${hosts[*]}\" "
    ">&2\n"
    "  echo \"$0: run this script on one of those hosts\" >&2\n"
    "  exit 1\n"
    "fi\n"
    "\n"
    "files=()\n"
    "for i in \"${!image_files[@]}\"; do\n"
    "  resolve \"${image_files[$i]}\"\n"
    "  if [ \"${image_hosts[$i]}\" = \"$run_host\" ]; then\n"
    "    files+=(\"$resolved\")\n"
    "  else\n"
    "    echo \"$0: note: ${image_hosts[$i]} must restart $resolved itself\" \\\n"
    "         \"(dmtcp_restart --coord-host $coord_host --coord-port $coord_port ...);\" \\\n"
    "         \"multi-host restart from this script is not supported yet\" >&2\n"
    "  fi\n"
    "done\n"
    "\n"
    "opts=(--coord-host \"$coord_host\" --coord-port \"$coord_port\")\n"
    "if [ -n \"$checkpoint_interval\" ]; then opts+=(--interval \"$checkpoint_interval\"); fi\n"
    "if [ -n \"$ckpt_dir\" ]; then opts+=(--ckptdir \"$ckpt_dir\"); fi\n"
    "\n"
    "exec \"$dmtcp_restart\" \"${opts[@]}\" \"${files[@]}\"\n";

/* The tail of the script of an MPI job (after the option parsing of script_body). */
static const char mpi_body[] =
    "dmtcp_restart=$(command -v dmtcp_restart 2>/dev/null)\n"
    "if [ -z \"$dmtcp_restart\" ]; then dmtcp_restart=$dmtcp_restart_default; fi\n"
    "\n"
    "# The generation directory: as written, or --restartdir (itself, or its gen-NNNNNN).\n"
    "gdir=$gen_dir\n"
    "if [ -n \"$restart_dir\" ]; then\n"
    "  if [ -e \"$restart_dir/MANIFEST\" ]; then gdir=$restart_dir\n"
    "  else gdir=$restart_dir/${gen_dir##*/}; fi\n"
    "fi\n"
    "if [ ! -e \"$gdir/MANIFEST\" ]; then\n"
    "  echo \"$0: $gdir/MANIFEST is missing: the images of generation $generation are not there\" "
    ">&2\n"
    "  exit 1\n"
    "fi\n"
    "\n"
    "opts=(--coord-host \"$coord_host\" --coord-port \"$coord_port\")\n"
    "if [ -n \"$checkpoint_interval\" ]; then opts+=(--interval \"$checkpoint_interval\"); fi\n"
    "if [ -n \"$ckpt_dir\" ]; then opts+=(--ckptdir \"$ckpt_dir\"); fi\n"
    "opts+=(--restartdir \"$gdir\")\n"
    "\n"
    "# Relaunch as launched: srun inside a Slurm allocation, mpiexec otherwise.\n"
    "if [ -n \"${SLURM_JOB_ID:-}\" ] && command -v srun >/dev/null 2>&1; then\n"
    "  # shellcheck disable=SC2086 # DMTCP_SRUN_ARGS holds several words\n"
    "  exec srun --mpi=pmi2 -n \"$mpi_size\" ${DMTCP_SRUN_ARGS:-} \"$dmtcp_restart\" "
    "\"${opts[@]}\"\n"
    "fi\n"
    "# shellcheck disable=SC2086 # DMTCP_MPIEXEC_ARGS holds several words\n"
    "exec mpiexec -n \"$mpi_size\" ${DMTCP_MPIEXEC_ARGS:-} \"$dmtcp_restart\" \"${opts[@]}\"\n";

static void put_var(FILE *fp, const char *name, const char *value)
{
	fprintf(fp, "%s=", name);
	put_quoted(fp, value);
	fputc('\n', fp);
}

/* name=${ENV:-'value'}: like DMTCP's script, the DMTCP_* variables of the restarting shell
 * (a new coordinator started by a job script) win over the values of this job. */
static void put_env_var(FILE *fp, const char *name, const char *env, const char *value)
{
	fprintf(fp, "%s=${%s:-", name, env);
	put_quoted(fp, value);
	fprintf(fp, "}\n");
}

static void write_body(FILE *fp, const struct coord *co, struct image *imgs, size_t n)
{
	char when[64], num[32];
	time_t t = time(NULL);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", localtime(&t));
	fprintf(fp, "#!/bin/bash\n");
	fprintf(fp,
		"# dmtcp_restart_script.sh - restarts job %016llx from checkpoint generation "
		"%u.\n",
		(unsigned long long)co->job_id, co->ck.gen);
	fprintf(fp, "# Written by dmtcp_coordinator (splitckpt %s) at %s;\n", SPLITCKPT_VERSION,
		when);
	fprintf(fp, "# %zu processes. Run it with --help for the options.\n\n", n);
	put_env_var(fp, "coord_host", "DMTCP_COORD_HOST", co->hostname);
	snprintf(num, sizeof(num), "%d", co->port);
	put_env_var(fp, "coord_port", "DMTCP_COORD_PORT", num);
	snprintf(num, sizeof(num), "%u", co->interval);
	put_env_var(fp, "checkpoint_interval", "DMTCP_CHECKPOINT_INTERVAL", num);
	put_var(fp, "ckpt_dir", "");
	put_var(fp, "restart_dir", "");
	char def[PATH_MAX + 32], build[PATH_MAX + 48];
	snprintf(def, sizeof(def), "%s/dmtcp_restart", co->self_dir);
	snprintf(build, sizeof(build), "%s/../launcher/dmtcp_restart", co->self_dir);
	if (access(def, X_OK) != 0 && access(build, X_OK) == 0) /* a build tree */
		put_var(fp, "dmtcp_restart_default", build);
	else
		put_var(fp, "dmtcp_restart_default", def);
	fprintf(fp, "generation=%u\n\n# The images of this generation and the host of each.\n",
		co->ck.gen);
	fprintf(fp, "hosts=(");
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(imgs[i].host, imgs[i - 1].host) == 0)
			continue;
		fputc(' ', fp);
		put_quoted(fp, imgs[i].host);
	}
	fprintf(fp, " )\nimage_hosts=(");
	for (size_t i = 0; i < n; i++) {
		fputs("\n  ", fp);
		put_quoted(fp, imgs[i].host);
	}
	fprintf(fp, "\n)\nimage_files=(");
	for (size_t i = 0; i < n; i++) {
		fputs("\n  ", fp);
		put_quoted(fp, imgs[i].path);
	}
	fprintf(fp, "\n)\n\n");
	size_t nmpi = 0;
	for (size_t i = 0; i < n; i++)
		nmpi += imgs[i].rank >= 0;
	if (nmpi == 0) {
		fprintf(fp, script_body, script_usage);
		return;
	}
	/* MPI: the option parsing of script_body, then the relaunch. */
	const char *cut = strstr(script_body, "dmtcp_restart=$(command");
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", imgs[0].path);
	for (size_t i = 0; i < n; i++)
		if (imgs[i].rank == 0)
			snprintf(dir, sizeof(dir), "%s", imgs[i].path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	fprintf(fp, "# MPI job: %zu ranks, launched by %s.\n", nmpi,
		imgs[0].launcher && imgs[0].launcher[0] ? imgs[0].launcher : "?");
	fprintf(fp, "mpi_size=%zu\n", nmpi);
	put_var(fp, "gen_dir", dir);
	fprintf(fp, "\n");
	char *head = strndup(script_body, (size_t)(cut - script_body)); /* holds one %s */
	if (head)
		fprintf(fp, head, script_usage);
	free(head);
	fputs(mpi_body, fp);
}

/* fsync of several descriptors at once: one thread each but the last (the caller's). Returns 0
 * or the errno of the first that failed, with its index in *bad. */
struct sync_one {
	int fd, err;
	pthread_t t;
};

static void *sync_main(void *arg)
{
	struct sync_one *j = arg;
	j->err = fsync(j->fd) < 0 ? errno : 0;
	return NULL;
}

static int fsync_all(struct sync_one *j, size_t n, size_t *bad)
{
	size_t started = 0;
	for (; n > 1 && started < n - 1; started++)
		if (pthread_create(&j[started].t, NULL, sync_main, &j[started]) != 0)
			break;
	for (size_t i = started; i < n; i++) /* the last, and any no thread took */
		sync_main(&j[i]);
	for (size_t i = 0; i < started; i++)
		pthread_join(j[i].t, NULL);
	for (size_t i = 0; i < n; i++)
		if (j[i].err) {
			*bad = i;
			return j[i].err;
		}
	return 0;
}

/* The MANIFEST of the generation in dir (docs/mpi-ckpt.md section 3), written to tmp (not yet
 * fsync'd, not renamed). Returns its open descriptor, or -1 with the message in err. */
static int write_manifest(const struct coord *co, const char *dir, const char *tmp,
			  struct image *imgs, size_t n, char *err, size_t errsz)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	FILE *fp = fd < 0 ? NULL : fdopen(fd, "w");
	if (!fp) {
		snprintf(err, errsz, "cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t nmpi = 0;
	uint32_t size = 0;
	const char *launcher = "";
	/* One "key value" per word: a host or image name with blanks or control characters
	 * would break the lines that dmtcp_restart reads. */
	for (size_t i = 0; i < n; i++) {
		const char *base = strrchr(imgs[i].path, '/');
		base = base ? base + 1 : imgs[i].path;
		for (int k = 0; k < 2; k++)
			for (const unsigned char *p = (const unsigned char *)(k ? base : imgs[i].host);
			     *p; p++)
				if (*p <= ' ' || *p == 0x7f) {
					fclose(fp);
					unlink(tmp);
					snprintf(err, errsz,
						 "cannot write %s: the %s '%s' holds a blank or "
						 "control character",
						 path, k ? "image name" : "host name",
						 k ? base : imgs[i].host);
					return -1;
				}
	}
	for (size_t i = 0; i < n; i++)
		if (imgs[i].rank >= 0) {
			nmpi++;
			size = imgs[i].size;
			if (imgs[i].launcher && imgs[i].launcher[0])
				launcher = imgs[i].launcher;
		}
	fprintf(fp, "splitckpt-manifest 1\ngeneration %u\nprocesses %zu\n", co->ck.gen, n);
	if (nmpi)
		fprintf(fp, "mpi_size %u\nlauncher %s\n", size, launcher[0] ? launcher : "unknown");
	for (size_t i = 0; i < n; i++) {
		const char *base = strrchr(imgs[i].path, '/');
		base = base ? base + 1 : imgs[i].path;
		if (imgs[i].rank >= 0)
			fprintf(fp, "rank %d host %s image %s\n", imgs[i].rank, imgs[i].host, base);
		else
			fprintf(fp, "proc host %s image %s\n", imgs[i].host, base);
	}
	int e = fflush(fp) != 0 || ferror(fp) ? (errno ? errno : EIO) : 0;
	int keep = e ? -1 : dup(fd); /* fclose closes fd; the caller fsyncs the copy */
	if (!e && keep < 0)
		e = errno;
	if (fclose(fp) != 0 && !e)
		e = errno;
	if (e) {
		if (keep >= 0)
			close(keep);
		unlink(tmp);
		snprintf(err, errsz, "cannot write %s: %s", path, strerror(e));
		return -1;
	}
	return keep;
}

/* Writes the script to tmp (0755), not yet fsync'd. Its open descriptor, or -1 (errno). */
static int write_file(const char *tmp, const struct coord *co, struct image *imgs, size_t n)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0755);
	if (fd < 0)
		return -1;
	int e = fchmod(fd, 0755) < 0 ? errno : 0;
	FILE *fp = e ? NULL : fdopen(fd, "w");
	if (!fp) {
		e = e ? e : errno;
		close(fd);
		errno = e;
		return -1;
	}
	write_body(fp, co, imgs, n);
	if (fflush(fp) != 0 || ferror(fp))
		e = errno ? errno : EIO;
	int keep = e ? -1 : dup(fd);
	if (!e && keep < 0)
		e = errno;
	if (fclose(fp) != 0 && !e)
		e = errno;
	if (e) {
		if (keep >= 0)
			close(keep);
		errno = e;
		return -1;
	}
	return keep;
}

/* The directory part of path, "." when it has none. */
static void dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, len, ".");
	else
		snprintf(dir, len, "%.*s", slash == path ? 1 : (int)(slash - path), path);
}

int coord_write_restart_script(struct coord *co, char *err, size_t errsz)
{
	size_t n = 0;
	struct image *imgs = calloc(co->nclients ? co->nclients : 1, sizeof(*imgs));
	if (!imgs) {
		snprintf(err, errsz, "out of memory for the restart script");
		return -1;
	}
	for (size_t i = 0; i < co->nclients; i++) {
		const struct coord_client *c = co->clients[i];
		if (c->role == ROLE_WORKER && c->w.in_ckpt && c->w.state == WS_WRITTEN &&
		    c->w.img_path && c->w.img_host)
			imgs[n++] = (struct image){.host = c->w.img_host,
						   .path = c->w.img_path,
						   .rank = c->w.mpi ? (int)c->w.mpi_rank : -1,
						   .size = c->w.mpi_size,
						   .launcher = c->w.mpi_launcher};
	}
	qsort(imgs, n, sizeof(*imgs), cmp_image);
	if (coord_mpi_check_generation(co, err, errsz) < 0) {
		free(imgs);
		return -1;
	}
	/* A MANIFEST in every directory that holds images of this generation, and the script:
	 * entries 0..nm-1 of f are the MANIFESTs, entry nm the script. */
	struct wfile {
		char dir[PATH_MAX], tmp[PATH_MAX + 96], path[PATH_MAX + 64];
	} *f = calloc(n + 1, sizeof(*f));
	struct sync_one *sy = calloc(n + 1, sizeof(*sy));
	size_t nm = 0, nopen = 0, bad = 0;
	int rc = -1, e;
	if (!f || !sy) {
		snprintf(err, errsz, "out of memory for the restart script");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!strchr(imgs[i].path, '/'))
			continue;
		dir_of(imgs[i].path, f[nm].dir, sizeof(f[nm].dir));
		int seen = 0;
		for (size_t k = 0; k < nm && !seen; k++)
			seen = !strcmp(f[k].dir, f[nm].dir);
		if (seen)
			continue;
		snprintf(f[nm].path, sizeof(f[nm].path), "%s/MANIFEST", f[nm].dir);
		snprintf(f[nm].tmp, sizeof(f[nm].tmp), "%s/.MANIFEST.tmp.%d", f[nm].dir,
			 (int)getpid());
		sy[nm].fd = write_manifest(co, f[nm].dir, f[nm].tmp, imgs, n, err, errsz);
		if (sy[nm].fd < 0)
			goto out;
		nopen = ++nm;
	}
	char name[64], link[PATH_MAX + 64], ltmp[PATH_MAX + 96];
	snprintf(name, sizeof(name), "dmtcp_restart_script_%016llx.sh",
		 (unsigned long long)co->job_id);
	snprintf(f[nm].dir, sizeof(f[nm].dir), "%s", co->scriptdir);
	snprintf(f[nm].path, sizeof(f[nm].path), "%s/%s", co->scriptdir, name);
	snprintf(f[nm].tmp, sizeof(f[nm].tmp), "%s/.%s.tmp.%d", co->scriptdir, name,
		 (int)getpid());
	snprintf(link, sizeof(link), "%s/dmtcp_restart_script.sh", co->scriptdir);
	sy[nm].fd = write_file(f[nm].tmp, co, imgs, n);
	if (sy[nm].fd < 0) {
		snprintf(err, errsz, "cannot write the restart script %s: %s", f[nm].path,
			 strerror(errno));
		unlink(f[nm].tmp);
		goto out;
	}
	nopen = nm + 1;

	/* Round 1: the contents of every MANIFEST and of the script. */
	e = fsync_all(sy, nm + 1, &bad);
	for (size_t i = 0; i < nopen; i++)
		if (close(sy[i].fd) < 0 && !e) {
			e = errno;
			bad = i;
		}
	nopen = 0;
	if (e) {
		snprintf(err, errsz, "cannot write %s: %s", f[bad].path, strerror(e));
		goto out;
	}
	/* Round 2: the MANIFESTs under their names. */
	for (size_t i = 0; i < nm; i++) {
		if (rename(f[i].tmp, f[i].path) < 0) {
			snprintf(err, errsz, "cannot write %s: %s", f[i].path, strerror(errno));
			goto out;
		}
		f[i].tmp[0] = 0;
	}
	for (size_t i = 0; i < nm; i++, nopen++) {
		sy[i].fd = open(f[i].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sy[i].fd < 0) {
			snprintf(err, errsz, "cannot open %s to make its MANIFEST durable: %s",
				 f[i].dir, strerror(errno));
			goto out;
		}
	}
	e = nm ? fsync_all(sy, nm, &bad) : 0;
	for (size_t i = 0; i < nopen; i++)
		close(sy[i].fd);
	nopen = 0;
	if (e) {
		snprintf(err, errsz, "cannot make %s durable (fsync of %s): %s", f[bad].path,
			 f[bad].dir, strerror(e));
		goto out;
	}
	/* Round 3: the script and the link to it under their names. */
	if (rename(f[nm].tmp, f[nm].path) < 0) {
		snprintf(err, errsz, "cannot write the restart script %s: %s", f[nm].path,
			 strerror(errno));
		goto out;
	}
	f[nm].tmp[0] = 0;
	snprintf(ltmp, sizeof(ltmp), "%s/.dmtcp_restart_script.sh.tmp.%d", co->scriptdir,
		 (int)getpid());
	unlink(ltmp);
	if (symlink(name, ltmp) < 0 || rename(ltmp, link) < 0) {
		snprintf(err, errsz, "cannot point %s at %s: %s", link, name, strerror(errno));
		unlink(ltmp);
		goto out;
	}
	sy[0].fd = open(co->scriptdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	e = sy[0].fd < 0 ? errno : fsync(sy[0].fd) < 0 ? errno : 0;
	if (sy[0].fd >= 0)
		close(sy[0].fd);
	if (e) {
		snprintf(err, errsz, "cannot make the restart script %s durable (fsync of %s): %s",
			 f[nm].path, co->scriptdir, strerror(e));
		goto out;
	}
	log_info("restart script: %s", link);
	rc = 0;
out:
	for (size_t i = 0; i < nopen; i++)
		close(sy[i].fd);
	for (size_t i = 0; f && i <= nm; i++)
		if (f[i].tmp[0] && f[i].path[0])
			unlink(f[i].tmp);
	free(sy);
	free(f);
	free(imgs);
	return rc;
}
