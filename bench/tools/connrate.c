/*
 * New-connection rate through a service, without a server application in the way (bench/services.ts).
 *   connrate serve <port>                          accept() and close() as fast as the kernel hands them over
 *   connrate client <seconds> <threads> <ip:port>...  blocking connect() loops over the targets; each connection
 *                                                  is closed with RST (SO_LINGER 0) so no client port waits in
 *                                                  TIME_WAIT; prints {"connections","cps","p50_us","p99_us","errors"}
 * The figure is the connect() latency: SYN to established, which is where a service datapath works
 * (the socket LB inside connect(), netfilter on the SYN).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUCKETS 200000 /* 1 us each: up to 200 ms */

static struct sockaddr_in *targets;
static int ntargets;
static double deadline;
static atomic_ulong errors;

struct worker {
	pthread_t thread;
	int id;
	unsigned long count;
	unsigned int *hist;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	unsigned long i = w->id;

	while (now() < deadline) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			atomic_fetch_add(&errors, 1);
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		double t0 = now();
		int rc = connect(fd, (struct sockaddr *)&targets[i++ % ntargets], sizeof(struct sockaddr_in));
		double us = (now() - t0) * 1e6;
		close(fd);
		if (rc < 0) {
			atomic_fetch_add(&errors, 1);
			continue;
		}
		w->hist[us >= BUCKETS ? BUCKETS - 1 : (int)us]++;
		w->count++;
	}
	return NULL;
}

static int serve(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 65535) < 0) {
		perror("listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]));
	if (argc < 5 || strcmp(argv[1], "client")) {
		fprintf(stderr, "usage: connrate serve <port> | connrate client <seconds> <threads> <ip:port>...\n");
		return 2;
	}
	double seconds = atof(argv[2]);
	int nthreads = atoi(argv[3]);
	ntargets = argc - 4;
	targets = calloc(ntargets, sizeof(*targets));
	for (int i = 0; i < ntargets; i++) {
		char *colon = strchr(argv[4 + i], ':');
		if (!colon)
			return 2;
		*colon = 0;
		targets[i].sin_family = AF_INET;
		targets[i].sin_port = htons(atoi(colon + 1));
		inet_pton(AF_INET, argv[4 + i], &targets[i].sin_addr);
	}
	struct worker *ws = calloc(nthreads, sizeof(*ws));
	double start = now();
	deadline = start + seconds;
	for (int i = 0; i < nthreads; i++) {
		ws[i].id = i;
		ws[i].hist = calloc(BUCKETS, sizeof(unsigned int));
		pthread_create(&ws[i].thread, NULL, run, &ws[i]);
	}
	unsigned long total = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(ws[i].thread, NULL);
		total += ws[i].count;
	}
	double elapsed = now() - start;
	unsigned long p50 = 0, p99 = 0, seen = 0;
	for (int b = 0; b < BUCKETS && total; b++) {
		for (int i = 0; i < nthreads; i++)
			seen += ws[i].hist[b];
		if (!p50 && seen * 2 >= total)
			p50 = b + 1;
		if (!p99 && seen * 100 >= total * 99) {
			p99 = b + 1;
			break;
		}
	}
	printf("{\"connections\":%lu,\"cps\":%.0f,\"p50_us\":%lu,\"p99_us\":%lu,\"errors\":%lu}\n", total, total / elapsed, p50, p99,
	       (unsigned long)atomic_load(&errors));
	return 0;
}
