/* The pod sandbox's process: holds the pod's namespaces, reaps orphans (it is the pod's pid 1
 * when the runtime shares a pid namespace), and exits on SIGINT or SIGTERM. Built statically from
 * this file by the real-node test layer, since no registry can be reached to pull one. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) {
	(void)sig;
	_exit(0);
}

static void on_child(int sig) {
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("weir-pause");
		return 0;
	}
	if (getpid() != 1)
		fprintf(stderr, "pause: not pid 1, orphans are not reaped here\n");
	struct sigaction term = {.sa_handler = on_term};
	struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
	if (sigaction(SIGINT, &term, NULL) || sigaction(SIGTERM, &term, NULL) || sigaction(SIGCHLD, &child, NULL)) {
		perror("pause: sigaction");
		return 1;
	}
	for (;;)
		pause();
}
