package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/e2e"
)

// The seed's batch jobs (section 4.5) and its cron job (section 7), with
// the helper as the workload, through the CLI only.

// The attempts' GORACE: under -race, an attempt's shim (tend's binary)
// and the helper would each wait a second when they exit.
func jobUnit(a *e2e.Agent, extra, mode string) string {
	return fmt.Sprintf(`kind = "job"
%s
[template]
labels = { app = "batch-job" }
command = [%q]
env = { TEND_TEST_HELPER = %q, TEND_TEST_TAG = %q, GORACE = "atexit_sleep_ms=0" }
restart = "on-failure"
`, extra, e2e.HelperBin, mode, a.Tag)
}

func TestSeedBatchJobs(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	dir := t.TempDir()
	e2e.WriteFile(t, filepath.Join(dir, "batch-job.toml"), jobUnit(a, "", "exit:0"))
	e2e.WriteFile(t, filepath.Join(dir, "multi-completion-batch-job.toml"), jobUnit(a, "completions = 5", "exit:0"))
	e2e.WriteFile(t, filepath.Join(dir, "parallel-completion-batch-job.toml"), jobUnit(a, "completions = 5\nparallelism = 2", "exit:0"))
	out := a.Tend("apply", "-f", dir)
	if n := strings.Count(out, "created"); n != 3 {
		t.Fatalf("apply -f DIR:\n%s", out)
	}
	a.Eventually("every job completes", func() (bool, string) {
		jobs := a.Units("jobs")
		return jobs["batch-job"].Condition == "Complete" &&
			jobs["multi-completion-batch-job"].Condition == "Complete" &&
			jobs["parallel-completion-batch-job"].Condition == "Complete", fmt.Sprintf("%+v", jobs)
	})
	table := a.Tend("get", "jobs")
	for _, want := range []string{
		`NAME\s+COMPLETIONS\s+DURATION\s+AGE`,
		`batch-job\s+1/1\s`,
		`multi-completion-batch-job\s+5/5\s`,
		`parallel-completion-batch-job\s+5/5\s`,
	} {
		if !regexp.MustCompile(want).MatchString(table) {
			t.Errorf("get jobs lacks %s:\n%s", want, table)
		}
	}
	desc := a.Tend("describe", "jobs", "multi-completion-batch")
	if n := strings.Count(desc, "SuccessfulCreate"); n != 5 || !strings.Contains(desc, "Job completed") ||
		!strings.Contains(desc, "0 Active / 5 Succeeded / 0 Failed") {
		t.Fatalf("describe jobs:\n%s", desc)
	}
	pods := a.Tend("get", "po")
	if n := strings.Count(pods, "Completed"); n != 11 {
		t.Fatalf("get po shows %d Completed, want 11:\n%s", n, pods)
	}
	var name string
	for _, i := range a.Instances() {
		if i.Unit == "batch-job" {
			name = i.Name
		}
	}
	if logs := a.Tend("logs", name); !strings.Contains(logs, "exiting 0") {
		t.Fatalf("logs %s: %q", name, logs)
	}
	a.Tend("delete", "jobs", "--all")
	a.Eventually("jobs and their instances are gone", func() (bool, string) {
		return len(a.Units("jobs")) == 0 && len(a.Instances()) == 0, e2e.Summary(a.Instances())
	})
}

// Each attempt of a job is told its completion index, under tend's name
// and Kubernetes', and the job lists the indexes completed.
func TestJobAttemptsKnowTheirCompletionIndex(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("shards", `kind = "job"
completions = 4
parallelism = 2
[template]
command = ["/bin/sh", "-c", "echo shard $TEND_COMPLETION_INDEX of 4, as Kubernetes: $JOB_COMPLETION_INDEX"]
env = { GORACE = "atexit_sleep_ms=0" } # the shim's, under -race (jobUnit)
`)
	a.Eventually("the job completes", func() (bool, string) {
		j := a.Units("jobs")["shards"]
		return j.Condition == "Complete", fmt.Sprintf("%+v", j)
	})
	seen := map[string]int{}
	for _, in := range a.Instances() {
		if in.Unit == "shards" {
			seen[strings.TrimSpace(a.Tend("logs", in.Name))]++
		}
	}
	for i := range 4 {
		if line := fmt.Sprintf("shard %d of 4, as Kubernetes: %d", i, i); seen[line] != 1 {
			t.Errorf("%q printed %d times, want once; the attempts printed %v", line, seen[line], seen)
		}
	}
	desc := a.Tend("describe", "job", "shards")
	for _, want := range []string{`Completion Mode:\s+Indexed\n`, `Completed Indexes:\s+0-3\n`} {
		if !regexp.MustCompile(want).MatchString(desc) {
			t.Errorf("describe job lacks %s:\n%s", want, desc)
		}
	}
	if got := a.Tend("get", "job", "shards", "-o", "jsonpath={.spec.completionMode} {.status.completedIndexes}"); got != "Indexed 0-3" {
		t.Errorf("get job -o jsonpath: %q, want %q", got, "Indexed 0-3")
	}
}

func TestJobBackoffLimitThroughTheCLI(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("failing", jobUnit(a, "backoff_limit = 1\nbackoff_delay = \"100ms\"", "exit:1"))
	a.Eventually("the job fails", func() (bool, string) {
		j := a.Units("jobs")["failing"]
		return j.Condition == "Failed", fmt.Sprintf("%+v", j)
	})
	desc := a.Tend("describe", "job", "failing")
	if !strings.Contains(desc, "BackoffLimitExceeded") || !strings.Contains(desc, "Failed") {
		t.Fatalf("describe job:\n%s", desc)
	}
}

func TestSeedCronJob(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("every-two-seconds", fmt.Sprintf(`kind = "cron"
schedule = "@every 2s"
successful_history = 2
[template]
command = [%q]
env = { TEND_TEST_HELPER = "exit:0", TEND_TEST_TAG = %q }
restart = "on-failure"
`, e2e.HelperBin, a.Tag))
	jobName := regexp.MustCompile(`^every-two-seconds-\d{10}$`)
	a.Eventually("two runs completed", func() (bool, string) {
		done := 0
		for name, j := range a.Units("jobs") {
			if jobName.MatchString(name) && j.Condition == "Complete" && j.Owner == "every-two-seconds" {
				done++
			}
		}
		return done >= 2, a.Tend("get", "jobs")
	})
	cj := a.Tend("get", "cronjobs")
	if !regexp.MustCompile(`every-two-seconds\s+@every 2s\s+False\s+\d\s+\d+s\s`).MatchString(cj) {
		t.Fatalf("get cronjobs:\n%s", cj)
	}
	// Instances are named after their job, which is named after the time.
	for _, i := range a.Instances() {
		if !regexp.MustCompile(`^every-two-seconds-\d{10}-[a-z0-9]{5}$`).MatchString(i.Name) {
			t.Fatalf("instance name %q", i.Name)
		}
	}
	a.Tend("delete", "cj", "every-two-seconds")
	a.Eventually("its jobs are gone", func() (bool, string) {
		return len(a.Units("jobs")) == 0, a.Tend("get", "jobs")
	})
}
