# One function's runtime settings (a <function>_service variable of the root module) held to
# Cloud Run's limits and to the timeouts its trigger allows. The root module passes every
# *_service variable through here (functions.tf), so one set of rules checks them all, and the
# messages name the variable the user set. It creates nothing.

terraform {
  # As the root module (versions.tf); messages that name the value need 1.2 or later.
  required_version = ">= 1.4"
}

variable "runtime" {
  description = "The root variable's name and value, and the timeout range of its function (limit: why the range ends there, or empty)."
  type = object({
    variable    = string
    min_timeout = number
    max_timeout = number
    limit       = string
    service = object({
      memory          = string
      cpu             = string
      timeout_seconds = number
      min_instances   = number
      max_instances   = number
      concurrency     = number
    })
  })

  validation {
    condition     = var.runtime.service.timeout_seconds >= var.runtime.min_timeout && var.runtime.service.timeout_seconds <= var.runtime.max_timeout
    error_message = "${var.runtime.variable}.timeout_seconds must be between ${var.runtime.min_timeout} and ${var.runtime.max_timeout}${var.runtime.limit}."
  }
  validation {
    condition     = var.runtime.service.max_instances >= 1 && var.runtime.service.min_instances >= 0 && var.runtime.service.min_instances <= var.runtime.service.max_instances
    error_message = "${var.runtime.variable} needs 0 <= min_instances <= max_instances and max_instances >= 1."
  }
  # Cloud Run: at most 1000 requests per instance, and only one below a whole CPU.
  validation {
    condition     = var.runtime.service.concurrency >= 1 && var.runtime.service.concurrency <= 1000 && (var.runtime.service.concurrency == 1 || tonumber(var.runtime.service.cpu) >= 1)
    error_message = "${var.runtime.variable}.concurrency must be 1-1000, and above 1 it needs cpu >= 1."
  }
}
