/* stamp: the workload of tend's benchmarks (cmd/tend-bench and cmd/tend's
   Go benchmarks read this file). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Answer every HTTP request on 127.0.0.1:port with a fixed 200 and close.
   SO_REUSEPORT lets a thousand copies share the port. */
static int serve(int port) {
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0) return 4;
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	char buf[4096];
	for (;;) {
		int c = accept(s, 0, 0);
		if (c < 0) continue;
		if (read(c, buf, sizeof buf) > 0) write(c, ok, sizeof ok - 1);
		close(c);
	}
}

/* stamp FILE exit|ok|sleep|http:PORT: append CLOCK_MONOTONIC and
   CLOCK_REALTIME (ns) to FILE, then exit 1, exit 0, wait for a signal, or
   serve HTTP on 127.0.0.1:PORT. */
int main(int argc, char **argv) {
	struct timespec ts, wall;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	clock_gettime(CLOCK_REALTIME, &wall);
	const char *file = argc >= 3 ? argv[1] : getenv("STAMP_FILE");
	const char *mode = argc >= 3 ? argv[2] : getenv("STAMP_MODE");
	if (!file || !mode) return 2;
	char buf[64];
	int n = snprintf(buf, sizeof buf, "%lld %lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec,
		(long long)wall.tv_sec * 1000000000LL + wall.tv_nsec);
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0 || write(fd, buf, n) != n) return 3;
	close(fd);
	if (strcmp(mode, "sleep") == 0)
		for (;;) pause();
	if (strncmp(mode, "http:", 5) == 0)
		return serve(atoi(mode + 5));
	return strcmp(mode, "ok") == 0 ? 0 : 1;
}
