/*
 * coord_status.c - the texts of `dmtcp_command -s` / key 's' and `dmtcp_command -l` / key 'l',
 * in DMTCP's layout (KEY=value lines under "Status...", one line per process in the list).
 */
#define LOG_PREFIX "coord"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "log.h"

void coord_fmt_bytes(uint64_t bytes, char *buf, size_t n)
{
	if (bytes >= 1000000000ull)
		snprintf(buf, n, "%.2f GB", bytes / 1e9);
	else if (bytes >= 1000000ull)
		snprintf(buf, n, "%.1f MB", bytes / 1e6);
	else if (bytes >= 1000ull)
		snprintf(buf, n, "%.1f kB", bytes / 1e3);
	else
		snprintf(buf, n, "%llu bytes", (unsigned long long)bytes);
}

static const char *phase_name(enum ckpt_phase p)
{
	switch (p) {
	case CK_SUSPENDING:
		return "suspending";
	case CK_WRITING:
		return "writing";
	case CK_RESUMING:
		return "resuming";
	default:
		return "running";
	}
}

char *coord_status_text(const struct coord *co)
{
	const struct coord_ckpt *ck = &co->ck;
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	if (!fp)
		return NULL;
	fprintf(fp, "Coordinator:\n  Host: %s\n  Port: %d\n  Job id: %016llx\n", co->hostname,
		co->port, (unsigned long long)co->job_id);
	fprintf(fp, "Status...\n  NUM_PEERS=%zu\n", co->nworkers);
	fprintf(fp, "  RUNNING=%s\n", ck->phase == CK_IDLE && co->nworkers ? "yes" : "no");
	const char *launcher;
	size_t nranks = coord_mpi_ranks(co, &launcher);
	if (nranks)
		fprintf(fp, "  MPI=yes ranks=%zu launcher=%s\n", nranks, launcher[0] ? launcher : "?");
	if (ck->phase == CK_IDLE)
		fprintf(fp, "  STATE=%s\n", co->nworkers ? "running" : "no processes");
	else
		fprintf(fp, "  STATE=checkpointing generation %u (%s: %zu of %zu done)\n", ck->gen,
			phase_name(ck->phase),
			ck->phase == CK_SUSPENDING ? ck->nsusp
			: ck->phase == CK_WRITING  ? ck->nwritten
						   : ck->nresumed,
			ck->nparts);
	if (co->interval)
		fprintf(fp, "  CKPT_INTERVAL=%u\n", co->interval);
	else
		fprintf(fp, "  CKPT_INTERVAL=0 (checkpoint on request only)\n");
	if (ck->last_gen) {
		fprintf(fp, "  LAST_CKPT_GENERATION=%u\n", ck->last_gen);
		if (ck->last_nprocs) {
			char size[32];
			coord_fmt_bytes(ck->last_bytes, size, sizeof(size));
			fprintf(fp, "  LAST_CKPT=%zu process%s, %s in %.3f s\n", ck->last_nprocs,
				ck->last_nprocs == 1 ? "" : "es", size, ck->last_ms / 1000.0);
		}
	} else {
		fprintf(fp, "  LAST_CKPT_GENERATION=none\n");
	}
	fprintf(fp, "  CKPTDIR=%s\n",
		co->ckptdir[0] ? co->ckptdir : "(not set: each process's own)");
	fprintf(fp, "  RESTART_SCRIPT_DIR=%s\n", co->scriptdir);
	if (fclose(fp) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

char *coord_list_text(const struct coord *co)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	if (!fp)
		return NULL;
	fprintf(fp, "Client List:\n#, PROG[virtPID:realPID]@HOST, UNIQUEPID, STATE\n");
	size_t k = 0;
	for (size_t i = 0; i < co->nclients; i++) {
		const struct coord_client *c = co->clients[i];
		if (c->role != ROLE_WORKER || c->dropped)
			continue;
		char rank[48] = "";
		if (c->w.mpi)
			snprintf(rank, sizeof(rank), ", rank %u/%u%s", c->w.mpi_rank, c->w.mpi_size,
				 c->w.mpi_finalized ? " (finalized)" : "");
		fprintf(fp, "%zu, %s[%u:%u]@%s, %s, %s%s\n", ++k, c->w.progname, c->w.vpid, c->w.pid,
			c->w.hostname, c->w.uniquepid, coord_worker_state_name(c->w.state), rank);
	}
	if (fclose(fp) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
