from django.urls import path

from sync import apis

app_name = "sync"

urlpatterns = [
    path("webhooks/woocommerce/", apis.WooCommerceWebhookApi.as_view(), name="webhook-woocommerce"),
]
