terraform {
  # 1.3 for optional() object attributes with defaults, 1.4 for terraform_data (iam.tf: the
  # status function's invoker check).
  required_version = ">= 1.4"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.45"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.8"
    }
    # Waits for the Eventarc service agent, IAM grants and new log metrics to propagate
    # (services.tf, iam.tf, monitoring.tf).
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
