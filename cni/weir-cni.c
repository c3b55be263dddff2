/*
 * weir-cni: Weir's chained CNI plugin, listed after the interface plugin (bridge, ptp, ...) in a
 * conflist. It is a shim: the node agent is the only writer of kernel state, so the plugin hands
 * the runtime's request (the CNI_* environment and the network configuration, prevResult
 * included) to the agent over a unix socket and prints the agent's answer. The agent answers
 * ADD once the pod's interface is enforced, so no container starts before its policy does.
 *
 * When the agent cannot be reached, ADD fails with CNI error 11 ("try again later") and the
 * kubelet retries: a pod is never started unenforced. DEL succeeds anyway (the CNI spec asks DEL
 * to be best effort; the interface and its programs go with the pod's network namespace).
 *
 * Framing, agent side in agent/cni/server.ts: request = "KEY=VALUE\n" lines for each CNI_*
 * variable, an empty line, then the configuration bytes; reply = the exit code on its first
 * line, then what the plugin prints.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/weir/cni.sock"
#define SUPPORTED "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n"

extern char **environ;

static char *read_all(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);

	for (;;) {
		if (!buf)
			return NULL;
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The network configuration's "agentSocket" string, if any (a plain path: no escapes in it). */
static void config_socket(const char *conf, char *out, size_t outlen)
{
	const char *k = strstr(conf, "\"agentSocket\"");

	if (!k)
		return;
	k = strchr(k + 13, ':');
	if (!k)
		return;
	k = strchr(k, '"');
	if (!k)
		return;
	const char *end = strchr(k + 1, '"');
	if (!end || (size_t)(end - k - 1) >= outlen)
		return;
	memcpy(out, k + 1, (size_t)(end - k - 1));
	out[end - k - 1] = '\0';
}

static int fail(int code, const char *msg, const char *details)
{
	printf("{\"cniVersion\":\"1.0.0\",\"code\":%d,\"msg\":\"%s\",\"details\":\"%s\"}\n", code, msg, details);
	return 1;
}

int main(void)
{
	const char *command = getenv("CNI_COMMAND");

	if (!command)
		return fail(4, "CNI_COMMAND is not set", "weir-cni is run by a container runtime");
	if (strcmp(command, "VERSION") == 0) {
		fputs(SUPPORTED, stdout);
		return 0;
	}

	size_t conf_len = 0;
	char *conf = read_all(STDIN_FILENO, &conf_len);

	if (!conf)
		return fail(4, "cannot read the network configuration", strerror(errno));

	char path[sizeof(((struct sockaddr_un *)0)->sun_path)] = DEFAULT_SOCKET;

	config_socket(conf, path, sizeof(path));

	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (strcmp(command, "DEL") == 0)
			return 0;
		return fail(11, "the weir agent is not reachable; try again later", path);
	}

	for (char **e = environ; *e; e++)
		if (strncmp(*e, "CNI_", 4) == 0 && strchr(*e, '\n') == NULL)
			if (write_all(fd, *e, strlen(*e)) < 0 || write_all(fd, "\n", 1) < 0)
				goto lost;
	if (write_all(fd, "\n", 1) < 0 || write_all(fd, conf, conf_len) < 0)
		goto lost;
	shutdown(fd, SHUT_WR);

	size_t reply_len = 0;
	char *reply = read_all(fd, &reply_len);
	char *nl = reply ? strchr(reply, '\n') : NULL;

	if (!nl)
		goto lost;
	*nl = '\0';
	fputs(nl + 1, stdout);
	return atoi(reply);

lost:
	if (strcmp(command, "DEL") == 0)
		return 0;
	return fail(11, "the weir agent closed the connection; try again later", path);
}
