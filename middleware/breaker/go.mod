module github.com/courier-go/courier/middleware/breaker

go 1.26.0

require github.com/courier-go/courier v0.0.0-00010101000000-000000000000

require github.com/sony/gobreaker/v2 v2.4.0

require go.yaml.in/yaml/v3 v3.0.6 // indirect

replace github.com/courier-go/courier => ../..
