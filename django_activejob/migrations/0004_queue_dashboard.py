from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('django_activejob', '0003_paused_queues_and_stats'),
    ]

    operations = [
        migrations.CreateModel(
            name='QueueDashboard',
            fields=[],
            options={
                'verbose_name': 'queue dashboard',
                'verbose_name_plural': 'queue dashboard',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('django_activejob.delayedjob',),
        ),
    ]
