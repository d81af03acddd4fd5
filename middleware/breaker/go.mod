module github.com/courier-go/courier/middleware/breaker

go 1.26.0

require github.com/courier-go/courier v0.0.0-00010101000000-000000000000

require github.com/sony/gobreaker/v2 v2.4.0

replace github.com/courier-go/courier => ../..
