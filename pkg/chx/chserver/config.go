package chserver

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
)

// configTemplate is the whole server configuration. It names every folder the
// server writes to, so that nothing lands in /var/lib/clickhouse, and logs to
// the console because Start captures the console. Elements that 18.16 does not
// know (user_scripts_path, user_defined_path) are ignored by it and keep
// modern servers inside Dir too.
var configTemplate = template.Must(template.New("config").Funcs(template.FuncMap{"x": xmlText}).Parse(`<?xml version="1.0"?>
<!-- Written by chserver; rewritten on every Start. -->
<yandex>
    <logger>
        <level>information</level>
        <console>1</console>
    </logger>
    <listen_host>{{x .Host}}</listen_host>
    <tcp_port>{{.TCPPort}}</tcp_port>
    <http_port>{{.HTTPPort}}</http_port>
    <path>{{x .Data}}/</path>
    <tmp_path>{{x .Tmp}}/</tmp_path>
    <user_files_path>{{x .UserFiles}}/</user_files_path>
    <format_schema_path>{{x .FormatSchemas}}/</format_schema_path>
    <user_scripts_path>{{x .UserScripts}}/</user_scripts_path>
    <user_defined_path>{{x .UserDefined}}/</user_defined_path>
    <users_config>{{x .UsersFile}}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <!-- 18.16 waits for idle HTTP keep-alive connections to time out before it exits. -->
    <keep_alive_timeout>3</keep_alive_timeout>
</yandex>
`))

// usersFile lets the user "default" in without a password from loopback only.
// poll_interval is how often an idle native connection checks whether the
// server is shutting down; at the default 10 s, an open clickhouse-go pool
// makes 18.16 take 10 s to stop.
const usersFile = `<?xml version="1.0"?>
<!-- Written by chserver. -->
<yandex>
    <profiles>
        <default>
            <poll_interval>1</poll_interval>
            <max_memory_usage>4000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default></default>
    </quotas>
</yandex>
`

// layout holds the absolute paths and ports that go into the configuration.
type layout struct {
	Dir, Config, UsersFile, LogFile                               string
	Data, Tmp, UserFiles, FormatSchemas, UserScripts, UserDefined string
	Host                                                          string
	TCPPort, HTTPPort                                             int
}

func newLayout(dir, host string, tcpPort, httpPort int) (layout, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return layout{}, fmt.Errorf("chserver: data folder %q: %w", dir, err)
	}
	return layout{
		Dir:           abs,
		Config:        filepath.Join(abs, "config.xml"),
		UsersFile:     filepath.Join(abs, "users.xml"),
		LogFile:       filepath.Join(abs, "log", "clickhouse-server.log"),
		Data:          filepath.Join(abs, "data"),
		Tmp:           filepath.Join(abs, "tmp"),
		UserFiles:     filepath.Join(abs, "user_files"),
		FormatSchemas: filepath.Join(abs, "format_schemas"),
		UserScripts:   filepath.Join(abs, "user_scripts"),
		UserDefined:   filepath.Join(abs, "user_defined"),
		Host:          host,
		TCPPort:       tcpPort,
		HTTPPort:      httpPort,
	}, nil
}

// write creates the folders and writes config.xml and users.xml.
func (l layout) write() error {
	for _, d := range []string{l.Dir, l.Data, l.Tmp, l.UserFiles, l.FormatSchemas, filepath.Dir(l.LogFile)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("chserver: %w", err)
		}
	}
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, l); err != nil {
		return fmt.Errorf("chserver: render config: %w", err)
	}
	if err := os.WriteFile(l.Config, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("chserver: %w", err)
	}
	if err := os.WriteFile(l.UsersFile, []byte(usersFile), 0o644); err != nil {
		return fmt.Errorf("chserver: %w", err)
	}
	return nil
}

func xmlText(s string) (string, error) {
	var b bytes.Buffer
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "", err
	}
	return b.String(), nil
}
