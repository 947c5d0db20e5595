# The opt-in monthly budget (var.billing_budget). A budget belongs to the billing account, not
# the project, so it is created through the Billing Budgets API with this project as the quota
# project (the API refuses user credentials without one): hence the provider alias that sends
# it. Budgets alert; they never stop spending.
provider "google" {
  alias                 = "billing"
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
}

resource "google_billing_budget" "this" {
  count    = var.billing_budget == null ? 0 : 1
  provider = google.billing

  billing_account = var.billing_budget.billing_account
  display_name    = "${var.name_prefix} (${var.project_id})"

  budget_filter {
    projects        = ["projects/${local.project_number}"]
    calendar_period = "MONTH"
  }

  amount {
    specified_amount {
      currency_code = var.billing_budget.currency_code
      units         = tostring(floor(var.billing_budget.amount))
      nanos         = floor((var.billing_budget.amount - floor(var.billing_budget.amount)) * 1000000000)
    }
  }

  dynamic "threshold_rules" {
    for_each = var.billing_budget.thresholds
    content {
      threshold_percent = threshold_rules.value
    }
  }

  # Warn ahead: the month's forecast reaching the whole amount.
  threshold_rules {
    threshold_percent = 1.0
    spend_basis       = "FORECASTED_SPEND"
  }

  all_updates_rule {
    monitoring_notification_channels = slice(var.notification_channels, 0, min(5, length(var.notification_channels)))
    disable_default_iam_recipients   = false
  }

  depends_on = [google_project_service.this]
}
