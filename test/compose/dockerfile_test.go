package compose

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// stage is one FROM of a multi-stage Dockerfile with its instructions.
type stage struct {
	image, name string
	lines       []instruction
}

type instruction struct{ cmd, args string }

// parseDockerfile reads a Dockerfile into its stages, joining continued
// lines and dropping comments.
func parseDockerfile(t *testing.T, file string) []stage {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []stage
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		cmd, args = strings.ToUpper(cmd), strings.TrimSpace(args)
		if cmd == "FROM" {
			fields := strings.Fields(args)
			s := stage{image: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			stages = append(stages, s)
			return
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before FROM", file, cmd)
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, instruction{cmd, args})
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

// shellWords splits a RUN line into words, honouring double and single
// quotes (enough for the Dockerfile's go build line).
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// goBuild is the Dockerfile's go build command.
type goBuild struct {
	env      []string // VAR=value before go
	flags    []string // between build and the packages, -o excluded
	out      string   // -o directory, with its trailing slash
	packages []string
}

func parseGoBuild(t *testing.T, run string) goBuild {
	t.Helper()
	words := shellWords(run)
	var b goBuild
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "="); i++ {
		b.env = append(b.env, words[i])
	}
	if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
		t.Fatalf("not a plain go build command: %q", run)
	}
	for i += 2; i < len(words); i++ {
		switch w := words[i]; {
		case w == "-o" && i+1 < len(words):
			i++
			b.out = words[i]
		case strings.HasPrefix(w, "-"):
			b.flags = append(b.flags, w)
		case w == "&&" || w == ";":
			t.Fatalf("go build line chains other commands: %q", run)
		default:
			b.packages = append(b.packages, w)
		}
	}
	return b
}

// defaultPath is the PATH of the Alpine and Debian base images.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// image is what the Dockerfile's final stage holds.
type image struct {
	build    goBuild
	binaries map[string]string // name -> absolute path in the final image
	path     []string          // the final stage's PATH
	base     string
	builder  string // the build stage's image
}

func readImage(t *testing.T) image {
	t.Helper()
	stages := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a small final one", len(stages))
	}
	img := image{binaries: map[string]string{}, path: strings.Split(defaultPath, ":")}
	var build *stage
	var builds int
	for i := range stages {
		for _, in := range stages[i].lines {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				build = &stages[i]
				builds++
				img.build = parseGoBuild(t, in.args)
			}
		}
	}
	if builds != 1 {
		t.Fatalf("Dockerfile has %d go build lines, want one building every binary", builds)
	}
	img.builder = build.image
	final := stages[len(stages)-1]
	img.base = final.image
	for _, in := range final.lines {
		switch in.cmd {
		case "ENV":
			if v, ok := strings.CutPrefix(in.args, "PATH="); ok {
				img.path = strings.Split(strings.Trim(v, `"`), ":")
			}
		case "COPY":
			words := strings.Fields(in.args)
			if len(words) != 3 || words[0] != "--from="+build.name {
				continue
			}
			if src, dst := words[1], words[2]; strings.TrimSuffix(src, "/") == strings.TrimSuffix(img.build.out, "/") {
				for _, pkg := range img.build.packages {
					name := path.Base(pkg)
					img.binaries[name] = path.Join(dst, name)
				}
			}
		}
	}
	return img
}

// TestDockerfileBuildsTheServices checks the go build line: static
// binaries of the four services (compose runs them on Alpine), from a Go
// image of the go.mod's version, copied where the final image's PATH finds
// them under the names compose.yaml runs.
func TestDockerfileBuildsTheServices(t *testing.T) {
	img := readImage(t)
	if !slices.Contains(img.build.env, "CGO_ENABLED=0") {
		t.Errorf("go build env %q: want CGO_ENABLED=0, static binaries for %s", img.build.env, img.base)
	}
	if !strings.HasSuffix(img.build.out, "/") {
		t.Errorf("go build -o %q: want a directory (trailing /) so that each package gives its own binary", img.build.out)
	}
	for _, svc := range rttServices {
		if !slices.Contains(img.build.packages, "./services/"+svc) {
			t.Errorf("go build packages %q: ./services/%s missing", img.build.packages, svc)
		}
	}
	for _, pkg := range img.build.packages {
		if fi, err := os.Stat(filepath.Join(root, pkg, "main.go")); err != nil || fi.IsDir() {
			t.Errorf("package %s has no main.go: %v", pkg, err)
		}
	}

	// The build image's Go is the go.mod's.
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if goVersion == nil || !strings.HasPrefix(img.builder, "golang:"+string(goVersion[1])) {
		t.Errorf("build stage FROM %s, want golang:%s (go.mod)", img.builder, goVersion[1])
	}

	// compose runs each service by its binary's name; the image has it on
	// PATH. Its health check is wget, which Alpine's busybox provides.
	p := loadProject(t)
	for _, svc := range rttServices {
		s := service(t, p, svc)
		if len(s.Command) == 0 {
			t.Errorf("%s has no command", svc)
			continue
		}
		bin, ok := img.binaries[s.Command[0]]
		if !ok {
			t.Errorf("%s runs %q; the image has %v", svc, s.Command[0], img.binaries)
			continue
		}
		if !slices.Contains(img.path, path.Dir(bin)) {
			t.Errorf("%s: %s is not on the image's PATH %v", svc, bin, img.path)
		}
		if hc := s.HealthCheck; hc != nil && len(hc.Test) > 1 && hc.Test[1] == "wget" && !strings.HasPrefix(img.base, "alpine:") && !strings.HasPrefix(img.base, "busybox:") {
			t.Errorf("%s's health check runs wget, which the final image %s may not have", svc, img.base)
		}
	}
}

// TestDockerfileGoBuildRuns runs the Dockerfile's go build line here, with
// its environment and flags, and checks that it gives a static binary for
// every service compose.yaml runs.
func TestDockerfileGoBuildRuns(t *testing.T) {
	img := readImage(t)
	out := t.TempDir() + "/"
	args := append([]string{"build"}, img.build.flags...)
	args = append(args, "-o", out)
	args = append(args, img.build.packages...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), img.build.env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	p := loadProject(t)
	for _, svc := range rttServices {
		name := service(t, p, svc).Command[0]
		f, err := elf.Open(filepath.Join(out, name))
		if err != nil {
			t.Errorf("%s: the build gives no binary %s: %v", svc, name, err)
			continue
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s: %s is dynamically linked; Alpine has no glibc", svc, name)
			}
		}
		f.Close()
	}
}

func TestShellWords(t *testing.T) {
	got := shellWords(`CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./a 'b c'`)
	want := []string{"CGO_ENABLED=0", "go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/", "./a", "b c"}
	if !slices.Equal(got, want) {
		t.Errorf("shellWords = %q, want %q", got, want)
	}
}
